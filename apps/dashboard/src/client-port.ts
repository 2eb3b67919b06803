import type { ConnectionState, GatewayClient } from '@loopgate/client';
import {
  type AgentRunEvent,
  AgentStartOutput,
  GatewayError,
  type GatewayEventEnvelope,
  NodesInvokeOutput,
  NodesListOutput,
  PendingPairRequest,
  SendOutput,
  SessionsHistoryOutput,
  SessionsListOutput,
  type TranscriptEntry,
  WhoamiOutput,
} from '@loopgate/protocol';
import {
  type AgentRunUpdate,
  type ChatEntry,
  type GatewayPort,
  type LinkStatus,
  missingProcedure,
  type Observable,
  type TransportInfo,
} from './gateway-port.js';

/**
 * Adapts the typed client to the dashboard's port. Procedures that arrive
 * with later gateway concerns (nodes, sessions, agent, send) are reached by
 * path through the client's proxy and their answers are checked with the
 * protocol's schemas, so a gateway without them yields "not available"
 * rather than a type error at build time or a crash at run time.
 */
export type ClientPortExtras = {
  /** TLS pin and SSH tunnel state, when the launcher set those up. */
  transport?: Observable<TransportInfo>;
  restartTunnel?: () => Promise<void>;
  /** Tears down what the launcher set up beside the client (the tunnel). */
  close?: () => Promise<void>;
};

/** The part of a zod schema `call` uses (the dashboard does not depend on zod itself). */
type OutputSchema<T> = {
  safeParse(value: unknown): { success: true; data: T } | { success: false };
};
const ANY_OUTPUT: OutputSchema<unknown> = {
  safeParse: (value) => ({ success: true, data: value }),
};

type Procedure = {
  query(input?: unknown): Promise<unknown>;
  mutate(input?: unknown): Promise<unknown>;
  subscribe(
    input: unknown,
    handlers: { onData?: (data: unknown) => void; onError?: (error: GatewayError) => void },
  ): { unsubscribe(): void };
};

export function createClientPort(
  client: GatewayClient,
  extras: ClientPortExtras = {},
): GatewayPort {
  const procedure = (path: string): Procedure => {
    let node: unknown = client;
    for (const key of path.split('.')) node = (node as Record<string, unknown>)[key];
    return node as Procedure;
  };
  /** Calls a procedure, turning tRPC's "no such procedure" into the port's `missingProcedure`. */
  const call = async <T>(
    path: string,
    kind: 'query' | 'mutate',
    input: unknown,
    schema: OutputSchema<T>,
  ): Promise<T> => {
    let output: unknown;
    try {
      output = await procedure(path)[kind](input);
    } catch (error) {
      throw portErrorOf(path, error);
    }
    const parsed = schema.safeParse(output);
    if (!parsed.success) throw new GatewayError('INVALID_RESULT', `unexpected answer from ${path}`);
    return parsed.data;
  };

  const link: Observable<LinkStatus> = mapObservable(
    { get: () => client.connection.get(), subscribe: (l) => client.connection.subscribe(l) },
    linkStatusOf,
  );
  const url = client.connection.url;
  const staticTransport: TransportInfo = {
    via: 'direct',
    tls: { enabled: url.startsWith('wss:'), presented: undefined, pinned: [] },
    tunnel: undefined,
    ssh: undefined,
  };

  return {
    target: url,
    link,
    transport: extras.transport ?? { get: () => staticTransport, subscribe: () => () => {} },
    health: () => client.health.query(),
    async whoami() {
      const who = await call('whoami', 'query', undefined, WhoamiOutput);
      return { principal: who.principal, denied: who.denied };
    },
    status: (deep) => client.status.query({ deep }),
    subscribeEvents(lastEventId, handlers) {
      const subscription = client.events.subscribe(lastEventId ? { lastEventId } : {}, {
        onData: (envelope) => {
          const { id, data } = envelope as GatewayEventEnvelope;
          handlers.onEvent(id, data);
        },
        onError: (error) => handlers.onError(error),
      });
      return () => subscription.unsubscribe();
    },

    async listNodes() {
      const nodes = await call('nodes.list', 'query', undefined, NodesListOutput);
      return nodes.flatMap((n) =>
        n.state === 'pending'
          ? []
          : [
              {
                nodeId: n.nodeId,
                name: n.name,
                state: n.state,
                platform: n.platform,
                version: n.version,
                commands: n.commands,
                lastSeenAt: n.lastSeenAt ?? undefined,
                pairingCode: n.pairingCode,
              },
            ],
      );
    },
    async listPairRequests() {
      const pending = await call('nodes.pair.list', 'query', undefined, PendingPairRequest.array());
      return pending.map((p) => ({
        requestId: p.requestId,
        pairingCode: p.pairingCode,
        contested: p.contested,
        name: p.name,
        platform: p.platform,
        commands: p.commands,
        remoteAddress: p.remoteAddress,
        requestedAt: p.requestedAt,
      }));
    },
    async approvePairing(requestId) {
      await call('nodes.pair.approve', 'mutate', { requestId }, ANY_OUTPUT);
    },
    async rejectPairing(requestId) {
      await call('nodes.pair.reject', 'mutate', { requestId }, ANY_OUTPUT);
    },
    async removeNode(nodeId) {
      await call('nodes.pair.remove', 'mutate', { nodeId }, ANY_OUTPUT);
    },
    async invokeNode(request) {
      const output = await call('nodes.invoke', 'mutate', request, NodesInvokeOutput);
      return output.payload;
    },
    async send(request) {
      const output = await call('send', 'mutate', request, SendOutput);
      return { messageId: output.messageId };
    },
    async listSessions() {
      const output = await call('sessions.list', 'query', {}, SessionsListOutput);
      return output.sessions
        .map((s) => ({
          sessionId: s.id,
          channel: s.channel,
          peer: s.peer,
          updatedAt: s.updatedAt,
          lastText: s.lastText,
        }))
        .sort((a, b) => (b.updatedAt ?? 0) - (a.updatedAt ?? 0));
    },
    async sessionHistory(sessionId) {
      const output = await call(
        'sessions.history',
        'query',
        { sessionId, limit: 200 },
        SessionsHistoryOutput,
      );
      return chatEntriesOf(output.entries);
    },
    async startAgentRun(request) {
      const output = await call(
        AGENT_START_PATH,
        'mutate',
        {
          ...(request.sessionId ? { sessionId: request.sessionId } : {}),
          message: request.message,
          idempotencyKey: request.idempotencyKey,
        },
        AgentStartOutput,
      );
      return { runId: output.runId, sessionId: output.sessionId };
    },
    watchAgentRun(runId, handlers) {
      let subscription: { unsubscribe(): void };
      try {
        subscription = procedure('agent.events').subscribe(
          { runId },
          {
            onData: (envelope) => {
              const update = runUpdateOf((envelope as { data: AgentRunEvent }).data);
              if (update) handlers.onUpdate(update);
            },
            onError: (error) =>
              handlers.onError(isNoSuchProcedure(error) ? missingProcedure('agent.events') : error),
          },
        );
      } catch (error) {
        handlers.onError(error as Error);
        return () => {};
      }
      return () => subscription.unsubscribe();
    },

    restartTunnel: () =>
      extras.restartTunnel
        ? extras.restartTunnel()
        : Promise.reject(new GatewayError('BAD_REQUEST', 'no SSH tunnel in use')),
    close: async () => {
      await client.close();
      await extras.close?.();
    },
  };
}

/** The mutation that starts an agent turn (`agent.wait` / `agent.events` sit beside it). */
const AGENT_START_PATH = 'agent';

/** A call's error as the port reports it: a path the gateway does not have becomes `missingProcedure`. */
export function portErrorOf(path: string, error: unknown): unknown {
  return isNoSuchProcedure(error) ? missingProcedure(path) : error;
}

/** tRPC's answer for a path the router does not have: `No "query"-procedure on path "x"`. */
function isNoSuchProcedure(error: unknown): boolean {
  return (
    error instanceof GatewayError &&
    (error.code === 'NOT_FOUND' || error.code === 'BAD_REQUEST') &&
    /procedure on path/i.test(error.message)
  );
}

export function linkStatusOf(state: ConnectionState): LinkStatus {
  switch (state.state) {
    case 'connecting':
      return { state: 'connecting' };
    case 'open':
      return { state: 'open' };
    case 'reconnecting':
      return {
        state: 'reconnecting',
        attempt: state.attempt,
        ...(state.error ? { reason: state.error.message } : {}),
        ...(state.retryInMs !== undefined ? { retryInMs: state.retryInMs } : {}),
      };
    case 'unauthorized':
      return { state: 'unauthorized', reason: state.error.describe() };
    case 'pin-mismatch': {
      const details = state.error.details ?? {};
      const expected = details.expected;
      return {
        state: 'pin-mismatch',
        expected: Array.isArray(expected)
          ? expected.map(String)
          : typeof expected === 'string'
            ? [expected]
            : [],
        presented: typeof details.presented === 'string' ? details.presented : undefined,
      };
    }
    case 'closed':
      return state.error
        ? { state: 'closed', reason: state.error.describe() }
        : { state: 'closed' };
  }
}

function mapObservable<A, B>(source: Observable<A>, map: (a: A) => B): Observable<B> {
  let lastIn: A | undefined;
  let lastOut: B | undefined;
  const get = () => {
    const value = source.get();
    if (value !== lastIn || lastOut === undefined) {
      lastIn = value;
      lastOut = map(value);
    }
    return lastOut;
  };
  return { get, subscribe: (listener) => source.subscribe(() => listener(get())) };
}

/** A one-line summary of a tool result for the transcript. */
function summarize(value: unknown): string {
  if (value === undefined) return 'done';
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return text.length > 200 ? `${text.slice(0, 199)}…` : text;
}

function runUpdateOf(event: AgentRunEvent): AgentRunUpdate | undefined {
  switch (event.type) {
    case 'run.state':
      return {
        kind: 'state',
        state: event.state,
        ...(event.error ? { error: `${event.error.code}: ${event.error.message}` } : {}),
        ...(event.text ? { text: event.text } : {}),
      };
    case 'assistant.delta':
      return { kind: 'text-delta', text: event.text };
    case 'tool.started':
      return {
        kind: 'tool-started',
        callId: event.callId,
        node: event.nodeId,
        command: event.command,
      };
    case 'tool.finished':
      return {
        kind: 'tool-finished',
        callId: event.callId,
        outcome: event.ok
          ? { state: 'ok', summary: summarize(event.result) }
          : {
              state: 'failed',
              code: event.error?.code ?? 'COMMAND_FAILED',
              message: event.error?.message ?? 'failed',
            },
      };
    default:
      return undefined;
  }
}

function chatEntriesOf(entries: TranscriptEntry[]): ChatEntry[] {
  const out: ChatEntry[] = [];
  for (const entry of entries) {
    switch (entry.kind) {
      case 'user':
        out.push({ kind: 'user', text: entry.text });
        break;
      case 'assistant':
        if (entry.text) out.push({ kind: 'assistant', text: entry.text });
        break;
      case 'tool_call':
        out.push({
          kind: 'tool',
          callId: entry.callId,
          node: entry.nodeId,
          command: entry.command,
          outcome: { state: 'running' },
        });
        break;
      case 'tool_result': {
        const at = out.findIndex((e) => e.kind === 'tool' && e.callId === entry.callId);
        const call = out[at];
        if (call?.kind === 'tool') {
          out[at] = {
            ...call,
            outcome: entry.ok
              ? { state: 'ok', summary: summarize(entry.result) }
              : {
                  state: 'failed',
                  code: entry.error?.code ?? 'COMMAND_FAILED',
                  message: entry.error?.message ?? 'failed',
                },
          };
        }
        break;
      }
      case 'turn_end':
        if (entry.state !== 'completed') {
          out.push({
            kind: 'error',
            text: `run ${entry.state}${entry.error ? `: ${entry.error.code}: ${entry.error.message}` : ''}`,
          });
        }
        break;
      case 'outbound':
        // the reply to a run is already there as the assistant's text
        if (!entry.runId)
          out.push({
            kind: 'assistant',
            text: `(sent to ${entry.to} on ${entry.channel}) ${entry.text}`,
          });
        break;
    }
  }
  return out;
}
