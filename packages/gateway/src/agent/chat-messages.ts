import type { TranscriptEntry } from '@loopgate/protocol';
import { type ToolOutcome, toolResultContent } from './tools.js';

/** Chat Completions message shapes (the subset Loopgate sends). */
export type ChatToolCall = {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
};
export type ChatMessage =
  | { role: 'system'; content: string }
  | { role: 'user'; content: string }
  | { role: 'assistant'; content: string | null; tool_calls?: ChatToolCall[] }
  | { role: 'tool'; tool_call_id: string; content: string };

const INTERRUPTED: ToolOutcome = {
  ok: false,
  error: {
    code: 'INTERRUPTED',
    message: 'no result was recorded (the run ended before the node answered)',
  },
};

/**
 * Replays a transcript as Chat Completions messages: each round's assistant
 * message carries its tool calls, followed by one `tool` message per call
 * (a call whose result never arrived gets an explicit "interrupted" result,
 * because the API refuses a call without one). Replies already recorded as
 * assistant text are not repeated; a `send` the peer received is context the
 * model should see, as assistant text.
 */
export function chatMessagesFromTranscript(entries: readonly TranscriptEntry[]): ChatMessage[] {
  const out: ChatMessage[] = [];
  // Context windows may start mid-turn: begin at the first user message.
  const first = entries.findIndex((e) => e.kind === 'user');
  if (first === -1) return out;
  let round:
    | {
        key: string;
        message: Extract<ChatMessage, { role: 'assistant' }>;
        results: Map<string, string>;
      }
    | undefined;

  const flush = () => {
    if (!round) return;
    const { message, results } = round;
    if (message.tool_calls && message.tool_calls.length > 0) {
      out.push(message);
      for (const call of message.tool_calls) {
        out.push({
          role: 'tool',
          tool_call_id: call.id,
          content: results.get(call.id) ?? toolResultContent(INTERRUPTED),
        });
      }
    } else if (message.content) {
      out.push(message);
    }
    round = undefined;
  };

  for (const entry of entries.slice(first)) {
    switch (entry.kind) {
      case 'user':
        flush();
        out.push({ role: 'user', content: entry.text });
        break;
      case 'assistant':
        flush();
        round = {
          key: `${entry.runId}:${entry.round}`,
          message: { role: 'assistant', content: entry.text || null },
          results: new Map(),
        };
        break;
      case 'tool_call': {
        const key = `${entry.runId}:${entry.round}`;
        if (round?.key !== key) {
          flush();
          round = { key, message: { role: 'assistant', content: null }, results: new Map() };
        }
        const args = JSON.stringify(entry.params ?? {}) ?? '{}';
        round.message.tool_calls ??= [];
        round.message.tool_calls.push({
          id: entry.callId,
          type: 'function',
          function: { name: entry.tool, arguments: args },
        });
        break;
      }
      case 'tool_result': {
        const known = round?.message.tool_calls?.some((c) => c.id === entry.callId);
        if (!round || !known) break; // its call fell outside the window
        const outcome: ToolOutcome = entry.ok
          ? { ok: true, result: entry.result }
          : { ok: false, error: entry.error ?? { code: 'UNKNOWN', message: 'failed' } };
        round.results.set(entry.callId, toolResultContent(outcome));
        break;
      }
      case 'outbound':
        flush();
        if (entry.runId === undefined) out.push({ role: 'assistant', content: entry.text });
        break;
      case 'turn_end':
        flush();
        break;
    }
  }
  flush();
  return out;
}
