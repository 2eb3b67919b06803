import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ChatStreamAssembler,
  parseChunk,
  readServerSentEvents,
  StreamPayloadError,
} from '../../src/agent/chat-stream.js';

const chunk = (delta: Record<string, unknown>, finish: string | null = null) => ({
  choices: [{ index: 0, delta, finish_reason: finish }],
});

/** The SSE text of an OpenAI-style stream: a text part, two interleaved tool calls, then [DONE]. */
function sampleStream(): { text: string; events: unknown[] } {
  const events = [
    chunk({ role: 'assistant', content: '' }),
    chunk({ content: 'Checking ' }),
    chunk({ content: 'the ☕ machine…' }),
    chunk({
      tool_calls: [
        {
          index: 0,
          id: 'call_a',
          type: 'function',
          function: { name: 'kitchen__coffee_status', arguments: '' },
        },
      ],
    }),
    chunk({
      tool_calls: [
        {
          index: 1,
          id: 'call_b',
          type: 'function',
          function: { name: 'laptop__system_run', arguments: '{"ar' },
        },
      ],
    }),
    chunk({ tool_calls: [{ index: 0, function: { arguments: '{"verbose"' } }] }),
    chunk({ tool_calls: [{ index: 1, function: { arguments: 'gv":["upt' } }] }),
    chunk({ tool_calls: [{ index: 0, function: { arguments: ':true}' } }] }),
    chunk({ tool_calls: [{ index: 1, function: { arguments: 'ime"]}' } }] }),
    chunk({}, 'tool_calls'),
  ];
  const text = `${events.map((e) => `data: ${JSON.stringify(e)}\n\n`).join('')}data: [DONE]\n\n`;
  return { text, events };
}

async function* bytesIn(text: string, cuts: number[]): AsyncGenerator<Uint8Array> {
  const bytes = new TextEncoder().encode(text);
  let last = 0;
  for (const cut of [...cuts].sort((a, b) => a - b)) {
    if (cut <= last || cut >= bytes.length) continue;
    yield bytes.slice(last, cut);
    last = cut;
  }
  yield bytes.slice(last);
}

async function assemble(text: string, cuts: number[]) {
  const assembler = new ChatStreamAssembler();
  const deltas: string[] = [];
  const { done } = await readServerSentEvents(bytesIn(text, cuts), (data) => {
    const delta = assembler.push(parseChunk(data));
    if (delta) deltas.push(delta);
  });
  return { done, deltas, message: assembler.finish() };
}

describe('ChatStreamAssembler + readServerSentEvents', () => {
  it('rebuilds text and interleaved tool calls whose arguments are split across chunks', async () => {
    const { done, deltas, message } = await assemble(sampleStream().text, []);
    expect(done).toBe(true);
    expect(deltas.join('')).toBe('Checking the ☕ machine…');
    expect(message.content).toBe('Checking the ☕ machine…');
    expect(message.finishReason).toBe('tool_calls');
    expect(message.toolCalls).toEqual([
      { id: 'call_a', name: 'kitchen__coffee_status', arguments: '{"verbose":true}' },
      { id: 'call_b', name: 'laptop__system_run', arguments: '{"argv":["uptime"]}' },
    ]);
  });

  it('gives the same message however the bytes are cut into network chunks (even inside a UTF-8 character)', async () => {
    const { text } = sampleStream();
    const whole = await assemble(text, []);
    const length = new TextEncoder().encode(text).length;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 1, max: length - 1 }), { maxLength: 40 }),
        async (cuts) => {
          const split = await assemble(text, cuts);
          expect(split.message).toEqual(whole.message);
          expect(split.deltas.join('')).toBe(whole.deltas.join(''));
        },
      ),
      { numRuns: 150 },
    );
  });

  it('handles servers that omit the index, repeat the name, or send a whole call at once', () => {
    const a = new ChatStreamAssembler();
    a.push(chunk({ tool_calls: [{ id: 'x1', function: { name: 'n1__c', arguments: '{"a":' } }] }));
    a.push(chunk({ tool_calls: [{ function: { name: 'n1__c', arguments: '1}' } }] }));
    a.push(chunk({ tool_calls: [{ id: 'x2', function: { name: 'n2__c', arguments: '{}' } }] }));
    expect(a.finish().toolCalls).toEqual([
      { id: 'x1', name: 'n1__c', arguments: '{"a":1}' },
      { id: 'x2', name: 'n2__c', arguments: '{}' },
    ]);
  });

  it('invents ids for calls that came without one, and ignores usage-only chunks', () => {
    const a = new ChatStreamAssembler();
    expect(a.push({ choices: [], usage: { total_tokens: 3 } })).toBeUndefined();
    a.push(chunk({ tool_calls: [{ index: 0, function: { name: 'n__c', arguments: '{}' } }] }));
    expect(a.finish().toolCalls).toEqual([{ id: 'call_0', name: 'n__c', arguments: '{}' }]);
  });

  it('accepts a non-streaming completion body (a server that ignored stream: true)', () => {
    const a = new ChatStreamAssembler();
    a.push({
      choices: [
        { index: 0, message: { role: 'assistant', content: 'hello' }, finish_reason: 'stop' },
      ],
    });
    expect(a.finish()).toEqual({ content: 'hello', toolCalls: [], finishReason: 'stop' });
  });

  it('turns an error event in the stream into a clear error', async () => {
    const text = `data: ${JSON.stringify(chunk({ content: 'hi' }))}\n\ndata: {"error":{"message":"model overloaded"}}\n\n`;
    await expect(assemble(text, [])).rejects.toThrow(StreamPayloadError);
    await expect(assemble(text, [])).rejects.toThrow(/model overloaded/);
  });

  it('rejects an event that is not JSON', async () => {
    await expect(assemble('data: {not json\n\n', [])).rejects.toThrow(/not JSON/);
  });

  it('reports a stream that ended without [DONE]', async () => {
    const { done, message } = await assemble(
      `data: ${JSON.stringify(chunk({ content: 'partial' }))}\n\n`,
      [],
    );
    expect(done).toBe(false);
    expect(message.content).toBe('partial');
  });

  it('ignores SSE comments and keep-alives', async () => {
    const text = `: keep-alive\n\ndata: ${JSON.stringify(chunk({ content: 'ok' }))}\n\n: ping\n\ndata: [DONE]\n\n`;
    const { message } = await assemble(text, [5, 17]);
    expect(message.content).toBe('ok');
  });
});
