import type { AgentProvider, ProviderTurn, ProviderTurnResult } from './provider.js';
import type { NodeToolInfo } from './tool-invoker.js';
import { type ToolOutcome, toolNameFor } from './tools.js';

export type Directive =
  | { kind: 'help' }
  | { kind: 'nodes' }
  | { kind: 'invoke'; node: string; command: string; params: unknown }
  | { kind: 'usage'; message: string }
  | { kind: 'unknown'; name: string }
  | { kind: 'text' };

const INVOKE_USAGE =
  'usage: /invoke <node> <command> [json params], e.g. /invoke kitchen-pi system.run {"command":"uptime"}';

/**
 * Reads a message as a directive. `/name@bot` (how Telegram addresses a bot
 * in a group) is the same as `/name`; Telegram's `/start` is `/help`.
 */
export function parseDirective(text: string): Directive {
  const trimmed = text.trim();
  if (!trimmed.startsWith('/')) return { kind: 'text' };
  const match = /^\/([A-Za-z_]+)(?:@\S+)?(?:\s+([\s\S]*))?$/.exec(trimmed);
  if (!match) return { kind: 'unknown', name: trimmed.split(/\s/, 1)[0] ?? trimmed };
  const name = match[1]!.toLowerCase();
  const rest = (match[2] ?? '').trim();
  switch (name) {
    case 'help':
    case 'start':
      return { kind: 'help' };
    case 'nodes':
      return { kind: 'nodes' };
    case 'invoke': {
      const parts = /^(\S+)\s+(\S+)(?:\s+([\s\S]+))?$/.exec(rest);
      if (!parts) return { kind: 'usage', message: INVOKE_USAGE };
      const json = parts[3]?.trim();
      if (json === undefined)
        return { kind: 'invoke', node: parts[1]!, command: parts[2]!, params: {} };
      try {
        return {
          kind: 'invoke',
          node: parts[1]!,
          command: parts[2]!,
          params: JSON.parse(json) as unknown,
        };
      } catch {
        return {
          kind: 'usage',
          message: `the params after "${parts[2]}" are not valid JSON. ${INVOKE_USAGE}`,
        };
      }
    }
    default:
      return { kind: 'unknown', name: `/${name}` };
  }
}

export const LOCAL_HELP = [
  'Directives:',
  '/nodes — list the nodes and their commands',
  '/invoke <node> <command> [json] — run a command on a node, e.g. /invoke kitchen-pi system.run {"command":"uptime"}',
  '/help — this list',
].join('\n');

export const LOCAL_INTRODUCTION = [
  "This is Loopgate's built-in local provider. It does not run a language model, so it cannot answer free text.",
  'To talk to a model, set agent.provider to "openai" in the config, with agent.openai.baseUrl and agent.openai.model pointing at any OpenAI-compatible endpoint (OpenAI, Ollama, vLLM, llama.cpp server, LM Studio) and the key in LOOPGATE_OPENAI_API_KEY.',
  LOCAL_HELP,
].join('\n\n');

/** Room left for the result in a reply (Telegram caps a message at 4096 characters). */
const MAX_RESULT_CHARS = 3500;

/**
 * The default provider: no model, no network, deterministic. It says what
 * it is, and it runs directives — `/invoke` goes through the toolbox exactly
 * as a model's function call does, so the whole channel → agent → node →
 * reply flow works (and is testable) without a model.
 */
export class LocalProvider implements AgentProvider {
  readonly name = 'local';

  async runTurn(turn: ProviderTurn): Promise<ProviderTurnResult> {
    const text = await this.#answer(turn);
    turn.onTextDelta(1, text);
    turn.onAssistantMessage(1, text);
    return { text };
  }

  async #answer(turn: ProviderTurn): Promise<string> {
    const directive = parseDirective(turn.message);
    switch (directive.kind) {
      case 'text':
        return LOCAL_INTRODUCTION;
      case 'help':
        return LOCAL_HELP;
      case 'usage':
        return directive.message;
      case 'unknown':
        return `Unknown directive ${directive.name}.\n\n${LOCAL_HELP}`;
      case 'nodes':
        return describeNodes(await turn.toolbox.nodes());
      case 'invoke': {
        const nodes = await turn.toolbox.nodes();
        const found = findNode(nodes, directive.node);
        if (typeof found === 'string') return found;
        const outcome = await turn.toolbox.call({
          callId: 'call_1',
          round: 1,
          tool: toolNameFor(found.name, directive.command),
          nodeId: found.nodeId,
          command: directive.command,
          params: directive.params,
        });
        turn.signal.throwIfAborted();
        return describeOutcome(found, directive.command, outcome);
      }
    }
  }
}

/** By id, else by name (case-insensitive); an ambiguous or unknown name is answered with the choices. */
function findNode(nodes: readonly NodeToolInfo[], wanted: string): NodeToolInfo | string {
  const byId = nodes.find((n) => n.nodeId === wanted);
  if (byId) return byId;
  const byName = nodes.filter((n) => n.name.toLowerCase() === wanted.toLowerCase());
  if (byName.length === 1) return byName[0]!;
  if (byName.length > 1) {
    return `Several nodes are named "${wanted}": ${byName.map((n) => n.nodeId).join(', ')}. Use the node id.`;
  }
  const known = nodes.map((n) => n.name).join(', ');
  return `No node named "${wanted}".${known ? ` Known nodes: ${known}.` : ' No nodes are paired yet.'} /nodes lists them.`;
}

export function describeNodes(nodes: readonly NodeToolInfo[]): string {
  if (nodes.length === 0) {
    return 'No nodes are paired yet. Start one with `loopgate node run` and approve it with `loopgate nodes approve <request>`.';
  }
  const sorted = [...nodes].sort((a, b) => a.name.localeCompare(b.name));
  const lines = sorted.map((n) => {
    const commands =
      n.commands.length > 0 ? n.commands.map((c) => c.name).join(', ') : 'no approved commands';
    return `• ${n.name} (${n.nodeId}) ${n.online ? 'online' : 'offline'} — ${commands}`;
  });
  return `${nodes.length} node${nodes.length === 1 ? '' : 's'}:\n${lines.join('\n')}`;
}

export function describeOutcome(node: NodeToolInfo, command: string, outcome: ToolOutcome): string {
  if (!outcome.ok)
    return `${node.name} · ${command} → failed: ${outcome.error.code}: ${outcome.error.message}`;
  const result = outcome.result;
  let text =
    typeof result === 'string' ? result : (JSON.stringify(result ?? null, null, 2) ?? 'null');
  if (text.length > MAX_RESULT_CHARS)
    text = `${text.slice(0, MAX_RESULT_CHARS)}\n…(truncated, ${text.length} characters in all)`;
  return `${node.name} · ${command} → ok\n${text}`;
}
