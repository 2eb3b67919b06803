import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type GatewayEventInput,
  LoopgateConfig,
  type LoopgateConfigInput,
} from '@loopgate/protocol';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  type FakeTelegramBotApi,
  startFakeTelegramBotApi,
} from '../../../tests/src/fakes/index.js';
import { type AgentProvider, AgentRuntime } from '../../src/agent/index.js';
import { ChannelManager } from '../../src/channels/index.js';
import { SessionStore } from '../../src/sessions/index.js';
import { FakeInvoker } from '../agent/fake-invoker.js';

describe('ChannelManager: channel → session → agent → node → reply', () => {
  let api: FakeTelegramBotApi;
  let stateDir: string;
  let events: GatewayEventInput[];
  const log = pino({ level: 'silent' });
  const toClose: Array<{ close(): Promise<void> }> = [];

  beforeEach(async () => {
    api = await startFakeTelegramBotApi();
    stateDir = await mkdtemp(join(tmpdir(), 'loopgate-channels-'));
    events = [];
  });
  afterEach(async () => {
    for (const c of toClose.splice(0)) await c.close();
    await api.close();
    await rm(stateDir, { recursive: true, force: true });
  });

  async function stack(
    configInput: LoopgateConfigInput,
    env: NodeJS.ProcessEnv = {},
    provider?: AgentProvider,
  ) {
    const config = LoopgateConfig.parse(configInput);
    const emit = { emit: (e: GatewayEventInput) => events.push(e) };
    const sessions = new SessionStore({ stateDir, events: emit, log });
    await sessions.open();
    const invoker = new FakeInvoker().addNode({
      nodeId: 'nd_1',
      name: 'kitchen',
      commands: { 'system.run': () => ({ stdout: 'up 3 days' }) },
    });
    const agent = new AgentRuntime({
      config,
      sessions,
      tools: invoker,
      events: emit,
      log,
      env,
      ...(provider ? { provider } : {}),
    });
    const channels = new ChannelManager({
      config,
      stateDir,
      events: emit,
      log,
      sessions,
      agent,
      env,
    });
    await channels.open();
    // closed in reverse: channels, agent, sessions
    toClose.push(channels, agent, sessions);
    return { sessions, agent, channels, invoker };
  }

  const telegramConfig = () => ({
    apiBaseUrl: api.apiBaseUrl,
    allowedChatIds: [42],
    pollTimeoutSec: 30,
  });

  it('answers a Telegram /invoke with the node result and records every step', async () => {
    const { sessions, channels, invoker } = await stack(
      { channels: { telegram: telegramConfig() } },
      { LOOPGATE_TELEGRAM_BOT_TOKEN: api.token },
    );
    api.pushMessage({ chatId: 42, text: '/invoke kitchen system.run {"argv":["uptime"]}' });
    const reply = await api.waitForSent((m) => m.chatId === '42');
    expect(reply.text).toBe('kitchen · system.run → ok\n{\n  "stdout": "up 3 days"\n}');
    expect(invoker.calls[0]).toMatchObject({
      nodeId: 'nd_1',
      command: 'system.run',
      params: { argv: ['uptime'] },
    });

    await waitUntil(async () =>
      (await sessions.history('telegram-42', { limit: 50 })).entries.some(
        (e) => e.kind === 'outbound',
      ),
    );
    const entries = (await sessions.history('telegram-42', { limit: 50 })).entries;
    expect(entries.map((e) => e.kind)).toEqual([
      'user',
      'tool_call',
      'tool_result',
      'assistant',
      'turn_end',
      'outbound',
    ]);
    expect(entries[0]).toMatchObject({ source: { channel: 'telegram', peer: '42' } });
    expect(entries[5]).toMatchObject({
      channel: 'telegram',
      to: '42',
      messageId: String(reply.messageId),
    });
    expect(
      events
        .filter((e) => e.type === 'channel.message')
        .map((e) => (e as { direction: string }).direction),
    ).toEqual(['inbound', 'outbound']);
    expect(channels.statusSummary()).toEqual([
      {
        name: 'webchat',
        state: 'running' as const,
        detail: expect.stringContaining('operator clients'),
      },
      { name: 'telegram', state: 'running', detail: '@loopgate_test_bot: polling, 1 allowed chat' },
      { name: 'webhook', state: 'disabled', detail: 'not configured (channels.webhook)' },
    ]);
  });

  it('a channel with bad config is reported and does not stop the others', async () => {
    const { channels } = await stack({
      channels: { telegram: telegramConfig(), webhook: { secret: 'a-long-enough-secret-123' } },
    });
    const status = await channels.status({ deep: true });
    expect(status.find((s) => s.name === 'telegram')).toMatchObject({
      state: 'error',
      detail: expect.stringContaining('no bot token'),
      probe: { ok: false },
    });
    expect(status.find((s) => s.name === 'webhook')).toMatchObject({
      state: 'running',
      probe: { ok: true },
    });
    expect(status.find((s) => s.name === 'webchat')).toMatchObject({ state: 'running' });
    expect(
      events.some(
        (e) => e.type === 'channel.status' && e.channel === 'telegram' && e.state === 'error',
      ),
    ).toBe(true);
  });

  it('send delivers once per idempotency key and records it in the peer session', async () => {
    const { channels, sessions } = await stack(
      { channels: { telegram: telegramConfig() } },
      { LOOPGATE_TELEGRAM_BOT_TOKEN: api.token },
    );
    await api.waitForGetUpdates(() => true);
    const input = {
      channel: 'telegram',
      to: '42',
      text: 'backup finished',
      idempotencyKey: 'send-1',
    };
    const [a, b] = await Promise.all([channels.send(input), channels.send(input)]);
    const c = await channels.send(input);
    expect(api.sent).toHaveLength(1);
    expect(a).toEqual({
      messageId: String(api.sent[0]!.messageId),
      channel: 'telegram',
      to: '42',
      deduplicated: false,
    });
    expect(b.deduplicated).toBe(true);
    expect(c).toEqual({ ...a, deduplicated: true });
    await expect(channels.send({ ...input, text: 'different' })).rejects.toMatchObject({
      code: 'CONFLICT',
    });
    await expect(
      channels.send({ channel: 'telegram', to: 'not-a-chat', text: 'x', idempotencyKey: 'send-2' }),
    ).rejects.toMatchObject({
      code: 'BAD_REQUEST',
      message: '"not-a-chat" is not a Telegram chat id (a number, or @channelname)',
    });
    expect(sessions.list().sessions.map((s) => s.id)).toEqual(['telegram-42']);
    const entries = (await sessions.history('telegram-42', { limit: 10 })).entries;
    expect(entries).toEqual([
      expect.objectContaining({ kind: 'outbound', text: 'backup finished', to: '42' }),
    ]);
  });

  it('send refuses unknown and unconfigured channels in plain words', async () => {
    const { channels } = await stack({});
    await expect(
      channels.send({ channel: 'sms', to: 'x', text: 'y', idempotencyKey: 'k1' }),
    ).rejects.toMatchObject({
      code: 'BAD_REQUEST',
      message: 'unknown channel "sms" (channels: webchat, telegram, webhook)',
    });
    await expect(
      channels.send({ channel: 'telegram', to: '1', text: 'y', idempotencyKey: 'k2' }),
    ).rejects.toMatchObject({
      code: 'UNAVAILABLE',
      message: expect.stringContaining('not configured'),
    });
  });

  it('send to webchat posts into a session feed that watchers see', async () => {
    const { channels, agent } = await stack({});
    const controller = new AbortController();
    const feed = agent.hub.subscribe({ sessionId: 'desk', signal: controller.signal });
    const next = feed.next();
    const out = await channels.send({
      channel: 'webchat',
      to: 'desk',
      text: 'hello desk',
      idempotencyKey: 'w1',
      createSession: true,
    });
    const [, event] = (await next).value as [
      string,
      { type: string; text: string; messageId: string },
    ];
    controller.abort();
    expect(event).toMatchObject({
      type: 'session.message',
      text: 'hello desk',
      messageId: out.messageId,
    });
    await expect(
      channels.send({ channel: 'webchat', to: '../etc', text: 'x', idempotencyKey: 'w2' }),
    ).rejects.toMatchObject({ code: 'BAD_REQUEST' });
  });

  it('send to an unknown webchat session is NOT_FOUND and creates nothing, unless asked to create it', async () => {
    const { channels, sessions } = await stack({});
    const refused = channels.send({
      channel: 'webchat',
      to: 'typo-desk',
      text: 'hello',
      idempotencyKey: 'w3',
    });
    await expect(refused).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(sessions.get('typo-desk')).toBeUndefined();
    await channels.send({
      channel: 'webchat',
      to: 'typo-desk',
      text: 'hello',
      idempotencyKey: 'w4',
      createSession: true,
    });
    expect(sessions.get('typo-desk')).toBeDefined();
  });

  it('tells a peer when their session is too busy to take another message', async () => {
    // A model that never answers: runs stay in flight until the gateway closes.
    const stuck: AgentProvider = {
      name: 'stuck',
      runTurn: (turn) =>
        new Promise((_, reject) =>
          turn.signal.addEventListener('abort', () => reject(turn.signal.reason), { once: true }),
        ),
    };
    await stack(
      { agent: { maxQueuedPerSession: 1 }, channels: { telegram: telegramConfig() } },
      { LOOPGATE_TELEGRAM_BOT_TOKEN: api.token },
      stuck,
    );
    api.pushMessage({ chatId: 42, text: 'one' });
    api.pushMessage({ chatId: 42, text: 'two' });
    api.pushMessage({ chatId: 42, text: 'three' });
    const busy = await api.waitForSent(() => true);
    expect(busy).toMatchObject({
      chatId: '42',
      text: expect.stringContaining('Still working on your earlier messages'),
    });
    expect(api.sent).toHaveLength(1);
  });
});

async function waitUntil(check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}
