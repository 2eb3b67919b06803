import { commandPatternMatches, GatewayError } from '@loopgate/protocol';
import type { InvokeTarget } from './invoke-broker.js';
import { allowedCommands, type NodeRegistry } from './node-registry.js';
import type { NodePairing } from './pairing.js';
import type { NodePresence } from './presence.js';

/**
 * Where an invocation goes: the named node must be paired, online, offer the
 * command and have it approved. Each refusal says which of these failed.
 */
export function resolveInvokeTarget(
  nodes: { registry: NodeRegistry; presence: NodePresence; pairing: NodePairing },
  ref: string,
  command: string,
): InvokeTarget {
  const record = nodes.registry.find(ref);
  if (!record) {
    const pending = nodes.pairing.find(ref);
    throw new GatewayError(
      'NOT_PAIRED',
      pending
        ? `node "${pending.name}" is waiting for pairing approval (loopgate nodes approve ${pending.requestId})`
        : `no paired node "${ref}"`,
    );
  }
  const live = nodes.presence.live(record.nodeId);
  if (!live) {
    const seen =
      record.lastSeenAt === null
        ? 'never connected'
        : `last seen ${new Date(record.lastSeenAt).toISOString()}`;
    throw new GatewayError('NOT_CONNECTED', `node "${record.name}" is offline (${seen})`, {
      details: { nodeId: record.nodeId, lastSeenAt: record.lastSeenAt },
    });
  }
  if (!record.declaredCommands.includes(command)) {
    throw new GatewayError(
      'COMMAND_NOT_ALLOWED',
      `node "${record.name}" does not offer "${command}"`,
      {
        details: { offered: allowedCommands(record) },
      },
    );
  }
  if (!record.approvedCommands.some((p) => commandPatternMatches(p, command))) {
    throw new GatewayError(
      'COMMAND_NOT_ALLOWED',
      `"${command}" was not approved for node "${record.name}" at pairing`,
      { details: { offered: allowedCommands(record) } },
    );
  }
  return { nodeId: record.nodeId, name: record.name, connection: live.connection };
}
