import { createGatewayClient, type GatewayClient } from '@loopgate/client';
import type { AgentRunEvent, TranscriptEntry } from '@loopgate/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createGate,
  type FakeChatCompletions,
  type FakeTelegramBotApi,
  openaiAgentConfig,
  startFakeChatCompletions,
  startFakeTelegramBotApi,
  textReply,
  toolCallReply,
} from '../src/fakes/index.js';
import { startTestGateway, type TestGateway, waitFor } from '../src/index.js';
import { startTcpProxy } from '../src/tcp-proxy.js';
import { type NodeProcess, startPairedNode } from './nodes-harness.js';

/**
 * The reference flow over real sockets and processes: a Telegram message
 * (local Bot API server) reaches the gateway, the agent calls a command on a
 * real `loopgate node run` process, and the answer — holding the node's
 * output — goes back to the Bot API; the transcript holds every step.
 */

const CHAT = 4242;
type Envelope = { id: string; data: AgentRunEvent };

async function startFlow(agent: Record<string, unknown>) {
  const telegram = await startFakeTelegramBotApi();
  const gw = await startTestGateway({
    config: {
      agent,
      channels: {
        telegram: {
          botToken: telegram.token,
          apiBaseUrl: telegram.apiBaseUrl,
          allowedChatIds: [CHAT],
          pollTimeoutSec: 30,
        },
      },
    },
  });
  const op = createGatewayClient({ url: gw.url, token: gw.token, clientName: 'agent-flow-test' });
  const node = await startPairedNode(gw, op, { name: 'worker', args: ['--allow-exec', 'echo'] });
  await waitFor(
    async () =>
      (await op.status.query({})).channels
        .find((c) => c.name === 'telegram')
        ?.detail?.includes('polling'),
    {
      what: 'telegram channel polling',
    },
  );
  return { telegram, gw, op, node };
}

async function stopFlow(
  flow:
    | { telegram: FakeTelegramBotApi; gw: TestGateway; op: GatewayClient; node: NodeProcess }
    | undefined,
) {
  if (!flow) return;
  await flow.node.stop();
  await flow.op.close();
  await flow.gw.stop();
  await flow.telegram.close();
}

async function transcript(op: GatewayClient, sessionId: string): Promise<TranscriptEntry[]> {
  return (await op.sessions.history.query({ sessionId, limit: 200 })).entries;
}

/** The session's transcript once the channel reply has been recorded in it (the turn's last entry). */
async function transcriptAfterReply(
  op: GatewayClient,
  sessionId: string,
): Promise<TranscriptEntry[]> {
  return waitFor(
    async () => {
      const entries = await transcript(op, sessionId);
      return entries.some((e) => e.kind === 'outbound') ? entries : undefined;
    },
    { what: 'the reply in the transcript' },
  );
}

describe('Telegram → local provider /invoke → node → Telegram reply', () => {
  let flow: Awaited<ReturnType<typeof startFlow>> | undefined;
  beforeAll(async () => {
    flow = await startFlow({ provider: 'local' });
  });
  afterAll(() => stopFlow(flow));

  it('answers with the node’s output and records every step', async () => {
    const { telegram, op } = flow!;
    const marker = `marker-${Date.now()}`;
    telegram.pushMessage({
      chatId: CHAT,
      text: `/invoke worker system.run {"command":"echo","args":["${marker}"]}`,
    });
    const reply = await telegram.waitForSent((m) => m.chatId === String(CHAT));
    expect(reply.text).toMatch(/^worker · system\.run → ok\n/);
    expect(reply.text).toContain(marker);

    const sessionId = `telegram-${CHAT}`;
    const entries = await transcriptAfterReply(op, sessionId);
    expect(entries.map((e) => e.kind)).toEqual([
      'user',
      'tool_call',
      'tool_result',
      'assistant',
      'turn_end',
      'outbound',
    ]);
    const [user, call, result, answer, end, outbound] = entries as [
      Extract<TranscriptEntry, { kind: 'user' }>,
      Extract<TranscriptEntry, { kind: 'tool_call' }>,
      Extract<TranscriptEntry, { kind: 'tool_result' }>,
      Extract<TranscriptEntry, { kind: 'assistant' }>,
      Extract<TranscriptEntry, { kind: 'turn_end' }>,
      Extract<TranscriptEntry, { kind: 'outbound' }>,
    ];
    expect(user.source).toMatchObject({ channel: 'telegram', peer: String(CHAT) });
    expect(call).toMatchObject({
      nodeId: flow!.node.nodeId,
      command: 'system.run',
      params: { command: 'echo', args: [marker] },
    });
    expect(result.ok).toBe(true);
    expect(JSON.stringify(result.result)).toContain(marker);
    expect(answer.text).toBe(reply.text);
    expect(end.state).toBe('completed');
    expect(outbound).toMatchObject({
      channel: 'telegram',
      to: String(CHAT),
      messageId: String(reply.messageId),
      runId: user.runId,
    });

    // The operator sees the session and the channel in status.
    const listed = await op.sessions.list.query({});
    expect(listed.sessions.find((s) => s.id === sessionId)).toMatchObject({
      channel: 'telegram',
      peer: String(CHAT),
      queuedRuns: 0,
    });
    const status = await op.status.query({ deep: true });
    expect(status.sessions.total).toBeGreaterThanOrEqual(1);
    expect(status.channels.find((c) => c.name === 'telegram')).toMatchObject({
      state: 'running',
      probe: { ok: true },
    });
  });

  it('ignores chats outside the allowlist', async () => {
    const { telegram, op } = flow!;
    const before = telegram.sent.length;
    telegram.pushMessage({ chatId: 999, text: '/nodes' });
    telegram.pushMessage({ chatId: CHAT, text: '/help' });
    await telegram.waitForSent((m) => m.text.startsWith('Directives:'));
    expect(telegram.sent.slice(before).map((m) => m.chatId)).toEqual([String(CHAT)]);
    expect((await op.sessions.list.query({})).sessions.some((s) => s.peer === '999')).toBe(false);
  });

  it('send and agent with a repeated idempotency key act once', async () => {
    const { telegram, op } = flow!;
    const key = `send-${Date.now()}`;
    const input = {
      channel: 'telegram',
      to: String(CHAT),
      text: `deploy finished ${key}`,
      idempotencyKey: key,
    };
    const [a, b] = await Promise.all([op.send.mutate(input), op.send.mutate(input)]);
    const c = await op.send.mutate(input);
    expect(telegram.sent.filter((m) => m.text === input.text)).toHaveLength(1);
    expect([a.deduplicated, b.deduplicated].sort()).toEqual([false, true]);
    expect(c).toMatchObject({ messageId: a.messageId, deduplicated: true });

    const agentKey = `agent-${Date.now()}`;
    const first = await op.agent.mutate({ message: '/nodes', idempotencyKey: agentKey });
    const again = await op.agent.mutate({ message: '/nodes', idempotencyKey: agentKey });
    expect(again).toMatchObject({
      runId: first.runId,
      sessionId: first.sessionId,
      deduplicated: true,
    });
    const result = await op['agent.wait'].query({ runId: first.runId, timeoutMs: 10_000 });
    expect(result.text).toContain('worker (');
    expect((await transcript(op, first.sessionId)).filter((e) => e.kind === 'user')).toHaveLength(
      1,
    );
  });
});

describe('Telegram → openai provider (scripted tool call) → node → Telegram reply', () => {
  let flow: Awaited<ReturnType<typeof startFlow>> | undefined;
  let model: FakeChatCompletions;
  beforeAll(async () => {
    model = await startFakeChatCompletions();
    flow = await startFlow(openaiAgentConfig(model));
  });
  afterAll(async () => {
    await stopFlow(flow);
    await model.close();
  });

  it('the model calls the node tool, gets the output back, and answers with it', async () => {
    const { telegram, op } = flow!;
    const marker = `openai-${Date.now()}`;
    model.enqueue(
      toolCallReply(
        [
          {
            id: 'call_echo',
            name: 'worker__system_run',
            arguments: { command: 'echo', args: [marker] },
          },
        ],
        {
          argPieces: 4,
          splitEvents: true,
          content: 'Running it on worker.',
        },
      ),
      (request) => {
        const tool = request.body.messages.find(
          (m) => m.role === 'tool' && m.tool_call_id === 'call_echo',
        );
        const stdout =
          (JSON.parse(tool?.content ?? '{}') as { stdout?: string }).stdout?.trim() ??
          '(no tool result)';
        return textReply(`The worker printed: ${stdout}`, { pieces: 5 });
      },
    );
    telegram.pushMessage({ chatId: CHAT, text: `please echo ${marker} on the worker` });
    const reply = await telegram.waitForSent((m) => m.chatId === String(CHAT));
    expect(reply.text).toBe(`The worker printed: ${marker}`);

    const first = model.requests[0]!.body;
    expect(first.tools?.map((t) => t.function.name)).toEqual([
      'worker__system_info',
      'worker__system_notify',
      'worker__system_run',
    ]);
    expect(first.messages.at(-1)).toEqual({
      role: 'user',
      content: `please echo ${marker} on the worker`,
    });

    const sessionId = `telegram-${CHAT}`;
    const entries = await transcriptAfterReply(op, sessionId);
    expect(entries.map((e) => e.kind)).toEqual([
      'user',
      'assistant',
      'tool_call',
      'tool_result',
      'assistant',
      'turn_end',
      'outbound',
    ]);
    expect(entries[1]).toMatchObject({
      kind: 'assistant',
      round: 1,
      text: 'Running it on worker.',
    });
    expect(entries[2]).toMatchObject({
      kind: 'tool_call',
      round: 1,
      callId: 'call_echo',
      tool: 'worker__system_run',
      params: { command: 'echo', args: [marker] },
    });
    expect(entries[3]).toMatchObject({ kind: 'tool_result', callId: 'call_echo', ok: true });
    expect(entries[4]).toMatchObject({
      kind: 'assistant',
      round: 2,
      text: `The worker printed: ${marker}`,
    });
  });

  it('a run survives its operator losing the connection mid-stream: resumed with nothing lost or repeated', async () => {
    const { gw } = flow!;
    const proxy = await startTcpProxy(gw.port);
    const watcher = createGatewayClient({
      url: proxy.url,
      token: gw.token,
      clientName: 'flaky-operator',
      reconnect: { baseMs: 20, capMs: 200 },
    });
    try {
      const gate = createGate();
      const text = 'one two three four five six seven eight';
      model.enqueue(textReply(text, { pieces: 8, gateAfter: { index: 2, gate: gate.promise } }));
      const started = await watcher.agent.mutate({
        message: 'count to eight',
        idempotencyKey: `flaky-${Date.now()}`,
      });

      const received: Envelope[] = [];
      let completed!: () => void;
      const complete = new Promise<void>((resolve) => {
        completed = resolve;
      });
      watcher['agent.events'].subscribe(
        { runId: started.runId },
        {
          onData: (e) => received.push(e as Envelope),
          onComplete: () => completed(),
          onError: (e) => received.push({ id: 'error', data: e as never }),
        },
      );
      await waitFor(() => received.filter((e) => e.data.type === 'assistant.delta').length >= 3, {
        what: 'the first deltas',
      });

      // The link dies; the run goes on and finishes while the operator is away.
      proxy.cut();
      gate.open();
      await gw.gateway.services.agent.whenFinished(started.runId);
      const seenBeforeReconnect = received.length;
      proxy.restore();
      await complete;

      expect(seenBeforeReconnect).toBeLessThan(received.length);
      const ids = received.map((e) => e.id);
      expect(new Set(ids).size).toBe(ids.length);
      const seqs = ids.map((id) => Number(id.split(':')[1]));
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
      const deltas = received.flatMap((e) =>
        e.data.type === 'assistant.delta' ? [e.data.text] : [],
      );
      expect(deltas.join('')).toBe(text);
      const states = received.flatMap((e) => (e.data.type === 'run.state' ? [e.data.state] : []));
      expect(states).toEqual(['queued', 'running', 'completed']);
      expect(proxy.connections).toBeGreaterThanOrEqual(2);

      // Exactly what the gateway holds for the run, as a fresh subscriber replays it.
      const op = flow!.op;
      const replay: Envelope[] = [];
      await new Promise<void>((resolve, reject) => {
        op['agent.events'].subscribe(
          { runId: started.runId },
          { onData: (e) => replay.push(e as Envelope), onComplete: resolve, onError: reject },
        );
      });
      expect(replay.map((e) => e.id)).toEqual(ids);

      const result = await op['agent.wait'].query({ runId: started.runId, timeoutMs: 5_000 });
      expect(result).toMatchObject({ state: 'completed', text });
    } finally {
      await watcher.close();
      await proxy.close();
    }
  });

  it('a run keeps going after the operator who started it closes; another operator waits for it', async () => {
    const { gw, op } = flow!;
    const gate = createGate();
    model.enqueue(
      textReply('finished without you', { pieces: 3, gateAfter: { index: 0, gate: gate.promise } }),
    );
    const starter = createGatewayClient({
      url: gw.url,
      token: gw.token,
      clientName: 'short-lived',
    });
    const started = await starter.agent.mutate({
      message: 'take your time',
      idempotencyKey: `gone-${Date.now()}`,
    });
    await starter.close();
    const wait = op['agent.wait'].query({ runId: started.runId, timeoutMs: 15_000 });
    gate.open();
    expect(await wait).toMatchObject({ state: 'completed', text: 'finished without you' });
    const entries = await transcript(op, started.sessionId);
    expect(entries.map((e) => e.kind)).toEqual(['user', 'assistant', 'turn_end']);
  });

  it('a second message in the same session waits its turn (queued), and cancel works on both', async () => {
    const { op } = flow!;
    const gate = createGate();
    model.enqueue(
      textReply('slow answer', { pieces: 2, gateAfter: { index: 0, gate: gate.promise } }),
    );
    const sessionId = `queue-${Date.now()}`;
    const first = await op.agent.mutate({
      sessionId,
      message: 'first',
      idempotencyKey: `${sessionId}-1`,
    });
    const second = await op.agent.mutate({
      sessionId,
      message: 'second',
      idempotencyKey: `${sessionId}-2`,
    });
    expect(second.state).toBe('queued');
    expect((await op['agent.get'].query({ runId: second.runId })).state).toBe('queued');
    expect(
      (await op.sessions.list.query({})).sessions.find((s) => s.id === sessionId),
    ).toMatchObject({ activeRunId: first.runId, queuedRuns: 1 });
    expect(await op['agent.cancel'].mutate({ runId: second.runId })).toMatchObject({
      state: 'cancelled',
    });
    expect(await op['agent.cancel'].mutate({ runId: first.runId })).toMatchObject({
      state: 'cancelled',
      error: { code: 'CANCELLED' },
    });
    gate.open();
    await expect(
      op['agent.wait'].query({ runId: 'run-unknown', timeoutMs: 1 }),
    ).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });
});
