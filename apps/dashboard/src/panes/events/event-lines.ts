import type { GatewayEvent } from '@loopgate/protocol';
import type { Level } from '../../state/types.js';

/** Connection ids are UUIDs; their first block is enough to match lines up in a log. */
function shortId(id: string): string {
  return id.length > 8 ? id.slice(0, 8) : id;
}

/** Names the dashboard already knows, so a log line says `"build-box"` rather than `nd_7f3a…`. */
export type KnownNames = {
  node(nodeId: string): string | undefined;
  request(requestId: string): string | undefined;
};

const NO_NAMES: KnownNames = { node: () => undefined, request: () => undefined };

/** `"build-box"` when the name is known, else the id as the gateway sent it. */
function nodeLabel(nodeId: string, names: KnownNames): string {
  const name = names.node(nodeId);
  return name === undefined ? nodeId : `"${name}"`;
}

/** One log line for an event: what happened, in an operator's words, and how much it matters. */
export function describeEvent(
  event: GatewayEvent,
  names: KnownNames = NO_NAMES,
): { text: string; level: Level } {
  switch (event.type) {
    case 'gateway.started':
      return { text: `gateway started (v${event.version})`, level: 'ok' };
    case 'gateway.stopping':
      return { text: `gateway stopping: ${event.reason}`, level: 'warn' };
    case 'connection.opened':
      return {
        text: `${event.role} connected from ${event.remoteAddress}${event.clientName ? ` (${event.clientName})` : ''} [${shortId(event.connectionId)}]`,
        level: 'info',
      };
    case 'connection.closed':
      return {
        text: `${event.role} disconnected, code ${event.code} [${shortId(event.connectionId)}]`,
        level: 'info',
      };
    case 'health.tick':
      return {
        text: `health ${event.health.ok ? 'ok' : 'NOT ok'}, ${event.health.connections.total} connections`,
        level: event.health.ok ? 'info' : 'warn',
      };
    case 'events.gap':
      return {
        text: `missed events after ${event.missedFrom ?? 'start'}; state refetched`,
        level: 'warn',
      };
    case 'node.pair.requested':
      return {
        text: `pairing requested by "${event.name}" (${event.platform}) [${event.requestId}] — approve in Nodes`,
        level: 'warn',
      };
    case 'node.pair.resolved': {
      const name = names.request(event.requestId);
      return {
        text:
          name === undefined
            ? `pairing ${event.requestId} ${event.decision}${event.nodeId ? ` → node ${event.nodeId}` : ''}`
            : `pairing of "${name}" ${event.decision} [${event.requestId}]`,
        level: event.decision === 'approved' ? 'ok' : 'info',
      };
    }
    case 'node.online':
      return {
        text: `node "${event.name}" online (${event.commands.length} commands)`,
        level: 'ok',
      };
    case 'node.offline':
      return { text: `node "${event.name}" offline: ${event.reason}`, level: 'warn' };
    case 'node.removed':
      return { text: `node ${nodeLabel(event.nodeId, names)} removed`, level: 'info' };
    case 'node.invoke.finished':
      return {
        text: `invoke ${event.command} on ${nodeLabel(event.nodeId, names)} ${event.ok ? 'ok' : `failed ${event.errorCode ?? ''}`} in ${event.durationMs} ms`,
        level: event.ok ? 'info' : 'error',
      };
    case 'session.created':
      return {
        text: `session ${event.sessionId} created (${event.channel}${event.peer ? ` ${event.peer}` : ''})`,
        level: 'info',
      };
    case 'session.reset':
      return { text: `session ${event.sessionId} reset`, level: 'info' };
    case 'session.deleted':
      return { text: `session ${event.sessionId} deleted`, level: 'info' };
    case 'agent.run':
      return {
        text: `agent run ${event.runId} ${event.state}${event.error ? `: ${event.error}` : ''} (session ${event.sessionId})`,
        level: event.state === 'failed' ? 'error' : event.state === 'completed' ? 'ok' : 'info',
      };
    case 'channel.message':
      return {
        text: `${event.channel} ${event.direction === 'inbound' ? '←' : '→'} ${event.peer}${event.sessionId ? ` (session ${event.sessionId})` : ''}`,
        level: 'info',
      };
    case 'channel.status':
      return {
        text: `channel ${event.channel} ${event.state}${event.detail ? `: ${event.detail}` : ''}`,
        level: event.state === 'error' ? 'error' : 'info',
      };
    case 'auth.rotated':
      return { text: 'gateway token rotated', level: 'warn' };
    case 'auth.token':
      return {
        text: `operator token ${event.name} (${event.scope}) ${event.action}`,
        level: event.action === 'revoked' ? 'warn' : 'info',
      };
  }
}
