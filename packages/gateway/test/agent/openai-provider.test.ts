import { createServer } from 'node:net';
import type { TranscriptEntry } from '@loopgate/protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  completionChunk,
  createGate,
  type FakeChatCompletions,
  startFakeChatCompletions,
  textReply,
  toolCallReply,
} from '../../../tests/src/fakes/index.js';
import {
  AgentToolbox,
  OpenAiProvider,
  type OpenAiProviderOptions,
  ProviderError,
  type ProviderTurn,
} from '../../src/agent/index.js';
import { FakeInvoker } from './fake-invoker.js';

const KEY = 'sk-test-0123456789abcdef';

function turn(
  message: string,
  invoker: FakeInvoker,
  options: { history?: TranscriptEntry[]; signal?: AbortSignal } = {},
) {
  const signal = options.signal ?? new AbortController().signal;
  const deltas: Array<[number, string]> = [];
  const messages: Array<[number, string]> = [];
  const tools: Array<{ phase: string; tool: string; ok?: boolean }> = [];
  const toolbox = new AgentToolbox({
    invoker,
    runId: 'run-x',
    signal,
    observer: {
      started: (c) => tools.push({ phase: 'started', tool: c.tool }),
      finished: (c, o) => tools.push({ phase: 'finished', tool: c.tool, ok: o.ok }),
    },
  });
  const t: ProviderTurn = {
    runId: 'run-x',
    sessionId: 's',
    message,
    history: options.history ?? [],
    toolbox,
    signal,
    onTextDelta: (round, text) => deltas.push([round, text]),
    onAssistantMessage: (round, text) => messages.push([round, text]),
  };
  return { t, deltas, messages, tools };
}

describe('OpenAiProvider against a Chat Completions server', () => {
  let fake: FakeChatCompletions;
  const provider = (over: Partial<OpenAiProviderOptions> = {}) =>
    new OpenAiProvider({
      baseUrl: fake.baseUrl,
      model: 'fake-model',
      apiKey: KEY,
      timeoutMs: 5_000,
      maxToolRounds: 3,
      ...over,
    });
  const invoker = () =>
    new FakeInvoker().addNode({
      nodeId: 'nd_1',
      name: 'kitchen',
      commands: { 'system.run': (p) => ({ stdout: `ran ${JSON.stringify(p)}`, exitCode: 0 }) },
      schemas: {
        'system.run': {
          type: 'object',
          properties: { argv: { type: 'array', items: { type: 'string' } } },
        },
      },
    });

  beforeEach(async () => {
    fake = await startFakeChatCompletions();
  });
  afterEach(async () => {
    await fake.close();
  });

  it('streams the answer and sends model, key, system prompt, history and message', async () => {
    fake.enqueue(textReply('Hello from the model', { pieces: 4 }));
    const { t, deltas, messages } = turn('hi', invoker(), {
      history: [
        {
          seq: 1,
          ts: 1,
          kind: 'user',
          runId: 'r0',
          text: 'earlier',
          source: { channel: 'webchat' },
        },
        { seq: 2, ts: 1, kind: 'assistant', runId: 'r0', round: 1, text: 'earlier answer' },
      ],
    });
    const result = await provider({ systemPrompt: 'Be brief.' }).runTurn(t);
    expect(result.text).toBe('Hello from the model');
    expect(deltas.length).toBe(4);
    expect(deltas.map(([, d]) => d).join('')).toBe('Hello from the model');
    expect(messages).toEqual([[1, 'Hello from the model']]);
    const request = fake.requests[0]!;
    expect(request.headers.authorization).toBe(`Bearer ${KEY}`);
    expect(request.body.model).toBe('fake-model');
    expect(request.body.stream).toBe(true);
    expect(request.body.messages).toEqual([
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'earlier' },
      { role: 'assistant', content: 'earlier answer' },
      { role: 'user', content: 'hi' },
    ]);
    expect(request.body.tools).toEqual([
      {
        type: 'function',
        function: {
          name: 'kitchen__system_run',
          description: 'Runs command "system.run" on node "kitchen" (nd_1).',
          parameters: {
            type: 'object',
            properties: { argv: { type: 'array', items: { type: 'string' } } },
          },
        },
      },
    ]);
  });

  it('runs a tool call whose arguments arrive in pieces, feeds the result back, and returns the final answer', async () => {
    fake.enqueue(
      toolCallReply(
        [{ id: 'call_1', name: 'kitchen__system_run', arguments: { argv: ['uptime', '-p'] } }],
        {
          argPieces: 5,
          splitEvents: true,
          content: 'Let me check.',
        },
      ),
      textReply('The kitchen box has been up for 3 days.'),
    );
    const inv = invoker();
    const { t, messages, tools } = turn('how long has the kitchen box been up?', inv);
    const result = await provider().runTurn(t);
    expect(result.text).toBe('The kitchen box has been up for 3 days.');
    expect(inv.calls.map((c) => [c.nodeId, c.command, c.params])).toEqual([
      ['nd_1', 'system.run', { argv: ['uptime', '-p'] }],
    ]);
    expect(tools).toEqual([
      { phase: 'started', tool: 'kitchen__system_run' },
      { phase: 'finished', tool: 'kitchen__system_run', ok: true },
    ]);
    expect(messages).toEqual([
      [1, 'Let me check.'],
      [2, 'The kitchen box has been up for 3 days.'],
    ]);
    const second = fake.requests[1]!.body.messages;
    expect(second.at(-2)).toEqual({
      role: 'assistant',
      content: 'Let me check.',
      tool_calls: [
        {
          id: 'call_1',
          type: 'function',
          function: { name: 'kitchen__system_run', arguments: '{"argv":["uptime","-p"]}' },
        },
      ],
    });
    expect(second.at(-1)).toEqual({
      role: 'tool',
      tool_call_id: 'call_1',
      content: '{"stdout":"ran {\\"argv\\":[\\"uptime\\",\\"-p\\"]}","exitCode":0}',
    });
  });

  it('feeds a failing tool back to the model as an error it can explain', async () => {
    fake.enqueue(
      toolCallReply([{ name: 'kitchen__nope', arguments: {} }]),
      textReply('That tool does not exist.'),
    );
    const { t } = turn('x', invoker());
    await provider().runTurn(t);
    expect(fake.requests[1]!.body.messages.at(-1)).toMatchObject({
      role: 'tool',
      content: expect.stringContaining('NOT_FOUND'),
    });
  });

  it('stops after maxToolRounds with TOOL_ROUNDS_EXCEEDED', async () => {
    const call = () => toolCallReply([{ name: 'kitchen__system_run', arguments: {} }]);
    fake.enqueue(call(), call(), call());
    const inv = invoker();
    const error = await provider({ maxToolRounds: 2 })
      .runTurn(turn('loop', inv).t)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProviderError);
    expect(error).toMatchObject({ code: 'TOOL_ROUNDS_EXCEEDED' });
    expect(inv.calls).toHaveLength(2);
  });

  it('401: PROVIDER_AUTH naming the env var, never echoing the key or the body', async () => {
    fake.enqueue({
      kind: 'error',
      status: 401,
      body: { error: { message: `Incorrect API key provided: ${KEY}` } },
    });
    const error = (await provider()
      .runTurn(turn('x', invoker()).t)
      .catch((e: unknown) => e)) as ProviderError;
    expect(error.code).toBe('PROVIDER_AUTH');
    expect(error.message).toContain('HTTP 401');
    expect(error.message).toContain('LOOPGATE_OPENAI_API_KEY');
    expect(error.message).not.toContain(KEY);
    expect(error.message).not.toContain('Incorrect');
  });

  it('401 without a key says no key is configured', async () => {
    fake.enqueue({ kind: 'error', status: 401 });
    const error = (await provider({ apiKey: undefined })
      .runTurn(turn('x', invoker()).t)
      .catch((e: unknown) => e)) as ProviderError;
    expect(error.message).toContain('no API key is configured');
    expect(fake.requests[0]!.headers.authorization).toBeUndefined();
  });

  it('429: PROVIDER_RATE_LIMITED with the retry delay', async () => {
    fake.enqueue({
      kind: 'error',
      status: 429,
      headers: { 'retry-after': '7' },
      body: { error: { message: 'Rate limit reached' } },
    });
    const error = (await provider({ maxRetries: 0 })
      .runTurn(turn('x', invoker()).t)
      .catch((e: unknown) => e)) as ProviderError;
    expect(error.code).toBe('PROVIDER_RATE_LIMITED');
    expect(error.details).toMatchObject({ status: 429, retryAfterMs: 7000 });
    expect(error.message).toContain('retry after 7 s');
    expect(error.message).toContain('Rate limit reached');
  });

  it('5xx: PROVIDER_UNAVAILABLE; 404: a hint about baseUrl and model', async () => {
    fake.enqueue(
      { kind: 'error', status: 503 },
      { kind: 'error', status: 404, body: { error: { message: 'model "x" not found' } } },
    );
    await expect(provider({ maxRetries: 0 }).runTurn(turn('x', invoker()).t)).rejects.toMatchObject(
      {
        code: 'PROVIDER_UNAVAILABLE',
        message: expect.stringContaining('HTTP 503'),
      },
    );
    await expect(provider().runTurn(turn('x', invoker()).t)).rejects.toMatchObject({
      code: 'PROVIDER_BAD_RESPONSE',
      message: expect.stringContaining('check agent.openai.baseUrl and agent.openai.model'),
    });
  });

  it('a silent endpoint fails with PROVIDER_TIMEOUT after timeoutMs', async () => {
    fake.enqueue({ kind: 'hang' });
    await expect(
      provider({ timeoutMs: 300 }).runTurn(turn('x', invoker()).t),
    ).rejects.toMatchObject({
      code: 'PROVIDER_TIMEOUT',
      message: expect.stringContaining('300 ms'),
    });
  });

  it('a stream that stalls midway also times out (the timer restarts on each chunk)', async () => {
    const gate = createGate();
    fake.enqueue(textReply('abcdef', { pieces: 3, gateAfter: { index: 1, gate: gate.promise } }));
    const { t, deltas } = turn('x', invoker());
    await expect(provider({ timeoutMs: 300 }).runTurn(t)).rejects.toMatchObject({
      code: 'PROVIDER_TIMEOUT',
    });
    expect(deltas.map(([, d]) => d).join('')).toBe('abcd');
    gate.open();
  });

  it('aborting the run stops the request mid-stream', async () => {
    const gate = createGate();
    fake.enqueue(textReply('abcdef', { pieces: 3, gateAfter: { index: 0, gate: gate.promise } }));
    const controller = new AbortController();
    const { t, deltas } = turn('x', invoker(), { signal: controller.signal });
    const running = provider().runTurn(t);
    await fake.waitForRequest(1);
    while (deltas.length === 0) await new Promise((r) => setImmediate(r));
    controller.abort(new Error('cancelled by test'));
    await expect(running).rejects.toThrow('cancelled by test');
    gate.open();
  });

  it('an unreachable endpoint is PROVIDER_UNAVAILABLE: connection refused, after retrying', async () => {
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    const p = new OpenAiProvider({
      baseUrl: `http://127.0.0.1:${port}/v1`,
      model: 'm',
      timeoutMs: 5_000,
      maxToolRounds: 1,
      retryBaseDelayMs: 5,
    });
    await expect(p.runTurn(turn('x', invoker()).t)).rejects.toMatchObject({
      code: 'PROVIDER_UNAVAILABLE',
      message: `cannot reach http://127.0.0.1:${port}/v1/chat/completions: connection refused (after 3 attempts)`,
    });
  });

  it('accepts a server that answers with a plain JSON completion', async () => {
    fake.enqueue({
      kind: 'json',
      body: {
        choices: [
          {
            index: 0,
            message: { role: 'assistant', content: 'not streamed' },
            finish_reason: 'stop',
          },
        ],
      },
    });
    expect(await provider().runTurn(turn('x', invoker()).t)).toEqual({ text: 'not streamed' });
  });

  describe('retries', () => {
    const failure = async (p: OpenAiProvider, signal?: AbortSignal) =>
      (await p
        .runTurn(turn('x', invoker(), signal ? { signal } : {}).t)
        .catch((e: unknown) => e)) as ProviderError;

    it('429 with Retry-After: 0 twice, then success: the turn succeeds on the third request', async () => {
      const limited = {
        kind: 'error',
        status: 429,
        headers: { 'retry-after': '0' },
        body: { error: { message: 'Rate limit reached' } },
      } as const;
      fake.enqueue(limited, limited, textReply('third time lucky'));
      const { t, deltas } = turn('x', invoker());
      const started = Date.now();
      // A long base delay: only honouring Retry-After: 0 makes this quick.
      const result = await provider({ retryBaseDelayMs: 10_000 }).runTurn(t);
      expect(Date.now() - started).toBeLessThan(3_000);
      expect(result.text).toBe('third time lucky');
      expect(deltas.map(([, d]) => d).join('')).toBe('third time lucky');
      expect(fake.requests).toHaveLength(3);
      // Every attempt is the same request.
      expect(fake.requests[2]!.body).toEqual(fake.requests[0]!.body);
    });

    it('503 every time: PROVIDER_UNAVAILABLE after 3 attempts, and exactly 3 requests', async () => {
      fake.enqueue(
        { kind: 'error', status: 503 },
        { kind: 'error', status: 503 },
        { kind: 'error', status: 503 },
        textReply('a fourth request would get this'),
      );
      const error = await failure(provider({ maxRetries: 2, retryBaseDelayMs: 10 }));
      expect(error).toBeInstanceOf(ProviderError);
      expect(error.code).toBe('PROVIDER_UNAVAILABLE');
      expect(error.details).toMatchObject({ status: 503 });
      expect(error.message).toContain('HTTP 503');
      expect(error.message).toContain('(after 3 attempts)');
      expect(error.message).not.toContain(KEY);
      expect(fake.requests).toHaveLength(3);
    });

    it('401 is not retried: PROVIDER_AUTH after one request', async () => {
      fake.enqueue({ kind: 'error', status: 401 }, textReply('a retry would get this'));
      const error = await failure(provider({ retryBaseDelayMs: 10 }));
      expect(error).toBeInstanceOf(ProviderError);
      expect(error.code).toBe('PROVIDER_AUTH');
      expect(error.message).not.toContain('attempts');
      expect(fake.requests).toHaveLength(1);
    });

    it('a Retry-After beyond the cap fails at once with retryAfterMs in the details', async () => {
      fake.enqueue(
        { kind: 'error', status: 429, headers: { 'retry-after': '120' } },
        textReply('a retry would get this'),
      );
      const started = Date.now();
      const error = await failure(provider({ retryBaseDelayMs: 10 }));
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(error).toBeInstanceOf(ProviderError);
      expect(error.code).toBe('PROVIDER_RATE_LIMITED');
      expect(error.details).toMatchObject({ status: 429, retryAfterMs: 120_000 });
      expect(fake.requests).toHaveLength(1);
    });

    it('aborting the run during a backoff wait cancels it at once; no further request is sent', async () => {
      // Retry-After (under the cap) makes the wait 20 s exactly, where a jittered backoff could be ~0.
      fake.enqueue(
        { kind: 'error', status: 503, headers: { 'retry-after': '20' } },
        textReply('a retry would get this'),
      );
      const controller = new AbortController();
      const reason = new Error('cancelled by test');
      const running = failure(provider({ retryBaseDelayMs: 10 }), controller.signal);
      await fake.waitForRequest(1);
      await new Promise((r) => setTimeout(r, 100));
      const abortedAt = Date.now();
      controller.abort(reason);
      expect(await running).toBe(reason);
      expect(Date.now() - abortedAt).toBeLessThan(2_000);
      await new Promise((r) => setTimeout(r, 50));
      expect(fake.requests).toHaveLength(1);
    });

    it('a stream that breaks after its first chunk is not retried', async () => {
      const gate = createGate();
      fake.enqueue(
        {
          kind: 'stream',
          pieces: [
            { data: completionChunk({ role: 'assistant', content: '' }) },
            { data: completionChunk({ content: 'partial' }) },
            { gate: gate.promise },
            { hangUp: true },
          ],
        },
        textReply('a retry would get this'),
      );
      const { t, deltas } = turn('x', invoker());
      const running = provider({ retryBaseDelayMs: 10 })
        .runTurn(t)
        .catch((e: unknown) => e);
      // The provider has consumed part of the answer before the connection drops.
      while (deltas.length === 0) await new Promise((r) => setImmediate(r));
      gate.open();
      const error = (await running) as ProviderError;
      expect(error).toBeInstanceOf(ProviderError);
      expect(error.code).toBe('PROVIDER_UNAVAILABLE');
      expect(error.message).not.toContain('attempts');
      expect(deltas).toEqual([[1, 'partial']]);
      expect(fake.requests).toHaveLength(1);
    });
  });
});
