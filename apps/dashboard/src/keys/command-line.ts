import { PANE_DEFINITIONS, PANES } from '../panes/index.js';
import type { DashboardState } from '../state/index.js';
import { confirm, dispatch, type Effect, normalMode, perform } from './effects.js';

/**
 * `:` command mode. Every command and alias is listed here once; the help
 * screen shows this list and `parseCommand` is the only interpreter.
 */
export type CommandSpec = { name: string; aliases: string[]; usage: string; description: string };

export const COMMANDS: readonly CommandSpec[] = [
  ...PANE_DEFINITIONS.map((pane) => ({
    name: pane.id,
    aliases: [...pane.aliases],
    usage: `:${pane.id}`,
    description: pane.summary,
  })),
  {
    name: 'invoke',
    aliases: ['i', 'inv'],
    usage: ':invoke <node> <command> [json]',
    description: 'run a command on a node (node by name or id; params default {})',
  },
  {
    name: 'send',
    aliases: ['s'],
    usage: ':send <channel> <to> <text>',
    description: 'send a message through a channel',
  },
  {
    name: 'approve',
    aliases: ['a'],
    usage: ':approve <request>',
    description: 'approve a pairing request (by id or name)',
  },
  {
    name: 'reject',
    aliases: ['x'],
    usage: ':reject <request>',
    description: 'reject a pairing request',
  },
  { name: 'remove', aliases: ['rm'], usage: ':remove <node>', description: 'revoke a paired node' },
  {
    name: 'connect',
    aliases: ['con'],
    usage: ':connect <url>',
    description: 'reconnect to another gateway URL',
  },
  {
    name: 'ctx',
    aliases: ['context'],
    usage: ':ctx <name>',
    description: 'switch to a named gateway from the config (contexts)',
  },
  {
    name: 'refresh',
    aliases: ['r'],
    usage: ':refresh [deep]',
    description: 'refetch status, nodes and sessions',
  },
  { name: 'help', aliases: ['h'], usage: ':help', description: 'list every key and command' },
  { name: 'quit', aliases: ['q'], usage: ':quit', description: 'leave the dashboard' },
];

export type CommandResult = { effects: Effect[] } | { error: string };

export function parseCommand(line: string, state: DashboardState): CommandResult {
  const text = line.trim().replace(/^:/, '');
  if (text === '') return { effects: [normalMode] };
  const [word = '', ...rest] = text.split(/\s+/);
  const spec = COMMANDS.find((c) => c.name === word || c.aliases.includes(word));
  if (!spec) return { error: `unknown command ":${word}" — :help lists them` };
  const args = text.slice(word.length).trim();
  const usage = { error: `usage: ${spec.usage}` };
  const pane = PANES.find((id) => id === spec.name);
  if (pane) return { effects: [dispatch({ type: 'pane.selected', pane })] };

  switch (spec.name) {
    case 'invoke': {
      const match = /^(\S+)\s+(\S+)(?:\s+([\s\S]*))?$/.exec(args);
      if (!match) return usage;
      const [, nodeRef = '', command = '', jsonText = ''] = match;
      let params: unknown;
      try {
        params = JSON.parse(jsonText.trim() || '{}');
      } catch (error) {
        return { error: `params are not valid JSON: ${(error as Error).message}` };
      }
      const node = resolveNode(state, nodeRef);
      return {
        effects: [
          normalMode,
          perform({ kind: 'invoke', nodeId: node?.nodeId ?? nodeRef, command, params }),
        ],
      };
    }
    case 'send': {
      const match = /^(\S+)\s+(\S+)\s+([\s\S]+)$/.exec(args);
      if (!match) return usage;
      const [, channel = '', to = '', body = ''] = match;
      return { effects: [normalMode, perform({ kind: 'send', channel, to, text: body.trim() })] };
    }
    case 'approve':
    case 'reject': {
      const ref = rest[0];
      if (!ref) return usage;
      const request = state.nodes.pending.find((p) => p.requestId === ref || p.name === ref);
      const kind = spec.name === 'approve' ? 'approve-pairing' : 'reject-pairing';
      return {
        effects: [
          confirm({ kind, requestId: request?.requestId ?? ref, name: request?.name ?? ref }),
        ],
      };
    }
    case 'remove': {
      const ref = rest[0];
      if (!ref) return usage;
      const node = resolveNode(state, ref);
      return {
        effects: [
          confirm({ kind: 'remove-node', nodeId: node?.nodeId ?? ref, name: node?.name ?? ref }),
        ],
      };
    }
    case 'connect': {
      const url = rest[0];
      if (!url || rest.length > 1) return usage;
      if (!/^wss?:\/\/[^\s/]+/.test(url))
        return { error: `expected ws://host:port or wss://host:port, got "${url}"` };
      return { effects: [normalMode, perform({ kind: 'connect', url })] };
    }
    case 'ctx': {
      const name = rest[0];
      if (!name || rest.length > 1) return usage;
      if (!/^[A-Za-z0-9][\w.-]{0,63}$/.test(name))
        return { error: `not a context name: "${name}"` };
      return { effects: [normalMode, perform({ kind: 'use-context', name })] };
    }
    case 'refresh':
      return { effects: [normalMode, perform({ kind: 'refresh', deep: rest[0] === 'deep' })] };
    case 'help':
      return {
        effects: [dispatch({ type: 'mode.set', mode: { kind: 'help', filter: '', scroll: 0 } })],
      };
    case 'quit':
      return { effects: [perform({ kind: 'quit' })] };
    default:
      return usage;
  }
}

/** A node by id, or by name when exactly one node has it. */
function resolveNode(state: DashboardState, ref: string) {
  const byId = state.nodes.list.find((n) => n.nodeId === ref);
  if (byId) return byId;
  const byName = state.nodes.list.filter((n) => n.name === ref);
  return byName.length === 1 ? byName[0] : undefined;
}
