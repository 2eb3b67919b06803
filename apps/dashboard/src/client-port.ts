import type { ConnectionState, GatewayClient } from '@loopgate/client';
import { type AgentRunEvent, GatewayError, type TranscriptEntry } from '@loopgate/protocol';
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
 * Adapts the typed client to the dashboard's port. Every procedure is called
 * through the client's types, so a renamed or reshaped procedure is a compile
 * error here; a gateway without one (an older build) answers "no such
 * procedure", which becomes `missingProcedure` and the pane says "not
 * available on this gateway".
 */
export type ClientPortExtras = {
  /** TLS pin and SSH tunnel state, when the launcher set those up. */
  transport?: Observable<TransportInfo>;
  restartTunnel?: () => Promise<void>;
  /** Tears down what the launcher set up beside the client (the tunnel). */
  close?: () => Promise<void>;
};

/** Runs one call; `path` names the procedure in the "not available" answer. */
async function call<T>(path: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    throw portErrorOf(path, error);
  }
}

export function createClientPort(
  client: GatewayClient,
  extras: ClientPortExtras = {},
): GatewayPort {
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
      const who = await call('whoami', () => client.whoami.query());
      return { principal: who.principal, denied: who.denied };
    },
    status: (deep) => client.status.query({ deep }),
    subscribeEvents(lastEventId, handlers) {
      const subscription = client.events.subscribe(lastEventId ? { lastEventId } : {}, {
        onData: ({ id, data }) => handlers.onEvent(id, data),
        onError: (error) => handlers.onError(error),
      });
      return () => subscription.unsubscribe();
    },
    ...nodeCalls(client),
    async send(request) {
      const output = await call('send', () => client.send.mutate(request));
      return { messageId: output.messageId };
    },
    ...sessionCalls(client),
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

type NodeCalls = Pick<
  GatewayPort,
  | 'listNodes'
  | 'listPairRequests'
  | 'approvePairing'
  | 'rejectPairing'
  | 'removeNode'
  | 'invokeNode'
>;

function nodeCalls(client: GatewayClient): NodeCalls {
  return {
    async listNodes() {
      const nodes = await call('nodes.list', () => client.nodes.list.query());
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
      const pending = await call('nodes.pair.list', () => client.nodes.pair.list.query());
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
      await call('nodes.pair.approve', () => client.nodes.pair.approve.mutate({ requestId }));
    },
    async rejectPairing(requestId) {
      await call('nodes.pair.reject', () => client.nodes.pair.reject.mutate({ requestId }));
    },
    async removeNode(nodeId) {
      await call('nodes.pair.remove', () => client.nodes.pair.remove.mutate({ nodeId }));
    },
    async invokeNode(request) {
      const output = await call('nodes.invoke', () => client.nodes.invoke.mutate(request));
      return output.payload;
    },
  };
}

type SessionCalls = Pick<
  GatewayPort,
  'listSessions' | 'sessionHistory' | 'startAgentRun' | 'watchAgentRun'
>;

function sessionCalls(client: GatewayClient): SessionCalls {
  return {
    async listSessions() {
      const output = await call('sessions.list', () => client.sessions.list.query({}));
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
      const output = await call('sessions.history', () =>
        client.sessions.history.query({ sessionId, limit: 200 }),
      );
      return chatEntriesOf(output.entries);
    },
    async startAgentRun(request) {
      const output = await call('agent', () =>
        client.agent.mutate({
          ...(request.sessionId ? { sessionId: request.sessionId } : {}),
          message: request.message,
          idempotencyKey: request.idempotencyKey,
        }),
      );
      return { runId: output.runId, sessionId: output.sessionId };
    },
    watchAgentRun(runId, handlers) {
      let subscription: { unsubscribe(): void };
      try {
        subscription = client['agent.events'].subscribe(
          { runId },
          {
            onData: ({ data }) => {
              const update = runUpdateOf(data);
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
  };
}

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
