import type { NodeSummary, NodesInvokeOutput, NodesListOutput } from '@loopgate/protocol';
import type { ProcedurePath } from '../authorization/index.js';
import type { GatewayContext } from '../router/context.js';
import { OpenClawError } from './errors.js';
import { InvokeProgressParams, NodeInvokeParams, NodeRefParams } from './frames.js';
import { type NodeResultTranslation, translateInvokeResult } from './node-results.js';

/**
 * The OpenClaw methods this endpoint serves, each under the Loopgate
 * procedure whose entry in the authorization table decides who may call it
 * (so `operator.read` tokens, nodes and unpaired keys get exactly what they
 * get on the tRPC door). Anything not listed is `INVALID_REQUEST`
 * `unknown method: …`, as OpenClaw's own gateway answers.
 */
export type OpenClawMethod = {
  procedure: ProcedurePath;
  run(call: MethodCall): Promise<unknown> | unknown;
};

export type MethodCall = {
  ctx: GatewayContext;
  params: unknown;
  signal: AbortSignal;
  /** The OpenClaw device id of a node socket (its invocations are addressed by it). */
  deviceId: string | undefined;
};

const dispatch = (call: MethodCall, procedure: ProcedurePath, input?: unknown) =>
  call.ctx.services.dispatch(procedure, input, call.ctx, call.signal);

/** Node-side declarations Loopgate has no counterpart for: answered, and ignored. */
const ignoredNodeUpdate: OpenClawMethod = {
  procedure: 'node.hello',
  run: () => ({ ok: true, handled: false, reason: 'unsupported by this gateway' }),
};

export const openClawMethods: Record<string, OpenClawMethod> = {
  health: { procedure: 'health', run: (call) => dispatch(call, 'health') },
  status: { procedure: 'status', run: (call) => dispatch(call, 'status', { deep: false }) },
  'node.list': {
    procedure: 'nodes.list',
    run: async (call) => ({
      ts: Date.now(),
      nodes: ((await dispatch(call, 'nodes.list')) as NodesListOutput).map(openClawNode),
    }),
  },
  'node.describe': {
    procedure: 'nodes.describe',
    run: async (call) => {
      const { nodeId } = NodeRefParams.parse(call.params);
      return openClawNode((await dispatch(call, 'nodes.describe', { nodeId })) as NodeSummary);
    },
  },
  'node.invoke': {
    procedure: 'nodes.invoke',
    run: async (call) => {
      const input = NodeInvokeParams.parse(call.params);
      const out = (await dispatch(call, 'nodes.invoke', input)) as NodesInvokeOutput;
      return {
        ok: true,
        nodeId: out.nodeId,
        command: out.command,
        payload: out.payload,
        payloadJSON: out.payload === undefined ? null : JSON.stringify(out.payload),
      };
    },
  },
  'node.pair.list': {
    procedure: 'nodes.pair.list',
    run: async (call) => ({ pending: await dispatch(call, 'nodes.pair.list') }),
  },
  'node.invoke.result': {
    procedure: 'node.result',
    run: (call) => postResult(call, translateInvokeResult(call.params)),
  },
  'node.invoke.progress': {
    procedure: 'node.progress',
    run: (call) => {
      const { id } = InvokeProgressParams.parse(call.params);
      return dispatch(call, 'node.progress', { invocationId: id });
    },
  },
  'node.event': {
    procedure: 'node.hello',
    run: (call) => ({
      ok: true,
      event: eventName(call.params),
      handled: false,
      reason: 'unsupported by this gateway',
    }),
  },
  'node.skills.update': ignoredNodeUpdate,
  'node.pluginTools.update': ignoredNodeUpdate,
  'node.runnerInventory.update': ignoredNodeUpdate,
};

/** Methods a node may send while its pairing request waits: answered NOT_PAIRED, the socket kept. */
export const NODE_HOUSEKEEPING = new Set([
  'node.event',
  'node.skills.update',
  'node.pluginTools.update',
  'node.runnerInventory.update',
]);

async function postResult(call: MethodCall, result: NodeResultTranslation): Promise<unknown> {
  if (call.deviceId !== undefined && result.nodeId !== call.deviceId) {
    throw new OpenClawError('INVALID_REQUEST', 'node.invoke.result names another node', {
      loopgateCode: 'BAD_REQUEST',
    });
  }
  return dispatch(call, 'node.result', result.loopgate);
}

function eventName(params: unknown): string | undefined {
  const event = (params as { event?: unknown } | null)?.event;
  return typeof event === 'string' ? event.slice(0, 128) : undefined;
}

/** A Loopgate node (or pending request) in the fields OpenClaw's `node.list` rows use. */
function openClawNode(node: NodeSummary): Record<string, unknown> {
  if (node.state === 'pending') {
    return {
      ...node,
      nodeId: node.requestId,
      displayName: node.name,
      paired: false,
      connected: false,
    };
  }
  return {
    ...node,
    displayName: node.name,
    paired: true,
    connected: node.state === 'online',
    ...(node.version ? { coreVersion: node.version } : {}),
    ...(node.remoteAddress ? { remoteIp: node.remoteAddress } : {}),
    ...(node.connectedAt !== undefined ? { connectedAtMs: node.connectedAt } : {}),
    ...(node.lastSeenAt !== null ? { lastConnectedAtMs: node.connectedAt ?? node.lastSeenAt } : {}),
  };
}
