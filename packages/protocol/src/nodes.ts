import * as z from 'zod';
import { printableText } from './printable.js';

/**
 * Nodes: peripheral machines that run commands for the gateway. One schema per
 * message, shared by the gateway's validation, the node SDK, the CLI's
 * `--json` output and the tests.
 */

/** What an operator types and sees: `build-box`, `pi.kitchen`, `laptop_2`. */
export const NodeName = z
  .string()
  .min(1, { error: 'expected a node name' })
  .max(64, { error: 'expected at most 64 characters' })
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, {
    error: 'expected letters, digits, ".", "_" or "-", starting with a letter or digit',
  });

/** A command a node offers: dotted lower-camel segments such as `system.info`, `fs.read`. */
export const NodeCommandName = z
  .string()
  .min(1)
  .max(128, { error: 'expected at most 128 characters' })
  .regex(/^[a-z][A-Za-z0-9_-]*(\.[a-z][A-Za-z0-9_-]*)*$/, {
    error: 'expected a dotted command name such as system.info',
  });

/**
 * What an operator approves: an exact command, `prefix.*` (every command under
 * that prefix) or `*` (whatever the node declares, now and after upgrades).
 */
export const NodeCommandPattern = z.union([
  NodeCommandName,
  z.literal('*'),
  z
    .string()
    .max(130)
    .regex(/^[a-z][A-Za-z0-9_-]*(\.[a-z][A-Za-z0-9_-]*)*\.\*$/, {
      error: 'expected a command, "prefix.*" or "*"',
    }),
]);

/** Does an approved pattern cover `command`? */
export function commandPatternMatches(pattern: string, command: string): boolean {
  if (pattern === '*') return true;
  if (pattern.endsWith('.*')) return command.startsWith(pattern.slice(0, -1));
  return pattern === command;
}

const commandList = z.array(NodeCommandName).max(256, { error: 'expected at most 256 commands' });
const platform = printableText(64);
const version = printableText(64);
/** A node id (`nd_…`) or a node name; operators may use either. */
const nodeRef = z.string().min(1).max(128);
/** A pairing request id (`pr_…`), its pairing code (`ABCD-EFGH`) or the requesting node's name. */
const requestRef = z.string().min(1).max(128);
/** A per-call timeout; the gateway default is `gateway.nodes.invokeTimeoutMs`. */
const timeoutMs = z
  .number()
  .int()
  .min(1)
  .max(3_600_000, { error: 'expected at most 3600000 (one hour)' });

// ---------------------------------------------------------------- pairing

/*
 * The node's public key is not part of the request: the socket already proved
 * it (a signature over the gateway's challenge in connectionParams), and the
 * request is filed under that key.
 */

export const NodePairRequestInput = z.object({
  name: NodeName,
  platform,
  version: version.optional(),
  commands: commandList,
});
export type NodePairRequestInput = z.infer<typeof NodePairRequestInput>;

/**
 * What `node.pair.request` yields: `pending` first (and again after a
 * reconnect), then exactly one decision, after which the subscription ends.
 * `approved` carries no secret: from then on the node proves itself with
 * its key on every connect.
 */
export const NodePairUpdate = z.discriminatedUnion('status', [
  z.object({
    status: z.literal('pending'),
    requestId: z.string(),
    /** The code the gateway derived from the node's key; the node shows its own to compare. */
    pairingCode: z.string(),
    expiresAt: z.number(),
  }),
  z.object({
    status: z.literal('approved'),
    nodeId: z.string(),
    name: z.string(),
    approvedCommands: z.array(z.string()),
  }),
  z.object({ status: z.literal('rejected'), reason: z.string().optional() }),
  z.object({ status: z.literal('expired') }),
]);
export type NodePairUpdate = z.infer<typeof NodePairUpdate>;

export const PendingPairRequest = z.object({
  requestId: z.string(),
  /** Derived from the node's public key; the node prints the same code. */
  pairingCode: z.string(),
  name: z.string(),
  platform: z.string(),
  version: z.string().optional(),
  commands: z.array(z.string()),
  remoteAddress: z.string(),
  requestedAt: z.number(),
  expiresAt: z.number(),
  /** Whether the requesting node is connected and waiting right now. */
  waiting: z.boolean(),
  /** Another key asked for the same name: approve by request id or code, never by name. */
  contested: z.boolean(),
});
export type PendingPairRequest = z.infer<typeof PendingPairRequest>;

export const NodesPairApproveInput = z.object({
  requestId: requestRef,
  /** Commands to allow; default: the ones the node asked for. */
  commands: z.array(NodeCommandPattern).max(256).optional(),
});
export const NodesPairApproveOutput = z.object({
  nodeId: z.string(),
  name: z.string(),
  approvedCommands: z.array(z.string()),
});
export type NodesPairApproveOutput = z.infer<typeof NodesPairApproveOutput>;

export const NodesPairRejectInput = z.object({
  requestId: requestRef,
  reason: z.string().max(500).optional(),
});
export const NodesPairRejectOutput = z.object({ requestId: z.string(), name: z.string() });

export const NodesPairRemoveInput = z.object({ nodeId: nodeRef });
export const NodesPairRemoveOutput = z.object({
  nodeId: z.string(),
  name: z.string(),
  /** Live sockets that were closed (code 4010); the node's key no longer opens a connection. */
  closedConnections: z.number(),
});
export type NodesPairRemoveOutput = z.infer<typeof NodesPairRemoveOutput>;

// ---------------------------------------------------------------- presence

export const NodeState = z.enum(['online', 'offline', 'pending']);
export type NodeState = z.infer<typeof NodeState>;

export const PairedNodeSummary = z.object({
  state: z.enum(['online', 'offline']),
  nodeId: z.string(),
  name: z.string(),
  platform: z.string(),
  version: z.string().optional(),
  /** What can be invoked now: declared by the node and covered by its approval. */
  commands: z.array(z.string()),
  /** What the node last declared (including commands nobody approved). */
  declaredCommands: z.array(z.string()),
  approvedCommands: z.array(z.string()),
  /** The code of the key this node proves on connect; absent for a node paired before node keys. */
  pairingCode: z.string().optional(),
  pairedAt: z.number(),
  /** Last time the node was connected (now, while online); null if never. */
  lastSeenAt: z.number().nullable(),
  connectedAt: z.number().optional(),
  remoteAddress: z.string().optional(),
  inFlight: z.number(),
});
export type PairedNodeSummary = z.infer<typeof PairedNodeSummary>;

export const PendingNodeSummary = PendingPairRequest.extend({ state: z.literal('pending') });
export type PendingNodeSummary = z.infer<typeof PendingNodeSummary>;

export const NodeSummary = z.discriminatedUnion('state', [
  PairedNodeSummary.extend({ state: z.literal('online') }),
  PairedNodeSummary.extend({ state: z.literal('offline') }),
  PendingNodeSummary,
]);
export type NodeSummary = z.infer<typeof NodeSummary>;

export const NodesListOutput = z.array(NodeSummary);
export type NodesListOutput = z.infer<typeof NodesListOutput>;

export const InvocationPhase = z.enum([
  'pending',
  'delivered',
  'done',
  'timeout',
  'disconnected',
  'cancelled',
]);
export type InvocationPhase = z.infer<typeof InvocationPhase>;

export const InFlightInvocation = z.object({
  invocationId: z.string(),
  command: z.string(),
  phase: InvocationPhase,
  startedAt: z.number(),
  deadline: z.number(),
  progress: z.object({ message: z.string().optional(), percent: z.number().optional() }).optional(),
});
export type InFlightInvocation = z.infer<typeof InFlightInvocation>;

export const NodesDescribeInput = z.object({ nodeId: nodeRef });
export const NodeDetail = z.discriminatedUnion('state', [
  PairedNodeSummary.extend({
    state: z.literal('online'),
    invocations: z.array(InFlightInvocation),
  }),
  PairedNodeSummary.extend({
    state: z.literal('offline'),
    invocations: z.array(InFlightInvocation),
  }),
  PendingNodeSummary,
]);
export type NodeDetail = z.infer<typeof NodeDetail>;

// ---------------------------------------------------------------- invoking

export const NodesInvokeInput = z.object({
  /** Node id or name. */
  nodeId: nodeRef,
  command: NodeCommandName,
  params: z.unknown().optional(),
  timeoutMs: timeoutMs.optional(),
  /**
   * Repeating a key within `gateway.nodes.idempotencyWindowMs` returns the
   * first outcome instead of running the command twice.
   */
  idempotencyKey: z.string().min(1).max(200),
});
export type NodesInvokeInput = z.infer<typeof NodesInvokeInput>;

export const NodesInvokeOutput = z.object({
  invocationId: z.string(),
  nodeId: z.string(),
  command: z.string(),
  payload: z.unknown(),
  durationMs: z.number(),
  /** True when this answer is the remembered outcome of an earlier call with the same key. */
  replayed: z.boolean(),
});
export type NodesInvokeOutput = z.infer<typeof NodesInvokeOutput>;

// ---------------------------------------------------------------- node side

export const NodeHelloInput = z.object({
  commands: commandList,
  platform: platform.optional(),
  version: version.optional(),
});
export type NodeHelloInput = z.infer<typeof NodeHelloInput>;

export const NodeHelloOutput = z.object({
  nodeId: z.string(),
  name: z.string(),
  approvedCommands: z.array(z.string()),
  /** Declared and approved: what operators can invoke. */
  allowedCommands: z.array(z.string()),
  /** Declared but not approved at pairing: invoking them fails with COMMAND_NOT_ALLOWED. */
  notApproved: z.array(z.string()),
  limits: z.object({ maxParamsBytes: z.number(), maxResultBytes: z.number() }),
});
export type NodeHelloOutput = z.infer<typeof NodeHelloOutput>;

/**
 * `node.invocations` input. The declaration travels with the subscription so
 * a resubscription after a reconnect re-declares atomically.
 */
export const NodeInvocationsInput = NodeHelloInput.extend({
  /** Filled by tRPC on resubscribe; invocations are never replayed (callers already got NODE_DISCONNECTED). */
  lastEventId: z.string().nullish(),
});
export type NodeInvocationsInput = z.infer<typeof NodeInvocationsInput>;

/** What the gateway pushes to a node. */
export const NodeInvocationMessage = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('invoke'),
    invocationId: z.string(),
    command: z.string(),
    params: z.unknown(),
    /** Gateway clock, epoch ms. */
    deadline: z.number(),
    /** The same deadline as a duration, for nodes whose clock is off. */
    timeoutMs: z.number(),
  }),
  z.object({
    kind: z.literal('cancel'),
    invocationId: z.string(),
    reason: z.enum(['timeout', 'cancelled']),
  }),
]);
export type NodeInvocationMessage = z.infer<typeof NodeInvocationMessage>;

/**
 * A typed error a node reports. `code` is free-form (`ENOENT`, `BAD_PARAMS`);
 * the gateway passes a few well-known codes through to the caller and maps
 * the rest to COMMAND_FAILED with `details.nodeCode`.
 */
export const NodeCommandError = z.object({
  code: z
    .string()
    .min(1)
    .max(64)
    .regex(/^[A-Za-z0-9_.-]+$/, { error: 'expected an error code such as COMMAND_FAILED' }),
  message: z.string().max(2_000),
  details: z.record(z.string(), z.unknown()).optional(),
});
export type NodeCommandError = z.infer<typeof NodeCommandError>;

/** A well-formed result, checked by the gateway after the loose wire shape below. */
export const NodeResult = z.discriminatedUnion('ok', [
  z.object({ invocationId: z.string(), ok: z.literal(true), payload: z.unknown() }),
  z.object({ invocationId: z.string(), ok: z.literal(false), error: NodeCommandError }),
]);
export type NodeResult = z.infer<typeof NodeResult>;

/**
 * The wire shape of `node.result`: only the invocation id is checked at the
 * door, so a malformed answer still reaches the waiting caller as
 * INVALID_RESULT instead of leaving it hanging until the timeout.
 */
export const NodeResultInput = z.looseObject({ invocationId: z.string().min(1).max(128) });

export const NodeResultOutput = z.object({
  /** False for results nobody waits for any more (after a timeout, cancel, or for unknown ids). */
  accepted: z.boolean(),
});

export const NodeProgressInput = z.object({
  invocationId: z.string().min(1).max(128),
  message: z.string().max(500).optional(),
  percent: z.number().min(0).max(100).optional(),
});
export type NodeProgressInput = z.infer<typeof NodeProgressInput>;
