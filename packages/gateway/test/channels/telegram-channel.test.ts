import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LoopgateConfig } from '@loopgate/protocol';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  type FakeTelegramBotApi,
  startFakeTelegramBotApi,
} from '../../../tests/src/fakes/index.js';
import type { ChannelHost } from '../../src/channels/index.js';
import { TelegramChannel } from '../../src/channels/index.js';
import { recorder } from './recording-host.js';

describe('TelegramChannel against a Bot API server', () => {
  let api: FakeTelegramBotApi;
  let stateDir: string;
  const channels: TelegramChannel[] = [];
  const log = pino({ level: 'silent' });

  const channel = (
    host: ChannelHost,
    over: Record<string, unknown> = {},
    token: string | null = api.token,
  ) => {
    const config = LoopgateConfig.parse({
      channels: {
        telegram: { apiBaseUrl: api.apiBaseUrl, allowedChatIds: [42], pollTimeoutSec: 30, ...over },
      },
    }).channels.telegram!;
    const c = new TelegramChannel({ config, botToken: token ?? undefined, stateDir, host, log });
    channels.push(c);
    return c;
  };

  beforeEach(async () => {
    api = await startFakeTelegramBotApi();
    stateDir = await mkdtemp(join(tmpdir(), 'loopgate-telegram-'));
  });
  afterEach(async () => {
    await Promise.all(channels.splice(0).map((c) => c.stop()));
    await api.close();
    await rm(stateDir, { recursive: true, force: true });
  });

  it('hands allowed messages to the host, ignores others, and persists the offset before acting', async () => {
    const host = recorder();
    const c = channel(host);
    await c.start();
    await api.waitForGetUpdates(() => true);
    const first = api.pushMessage({ chatId: 42, text: '/nodes' });
    api.pushMessage({ chatId: 7, text: 'let me in' });
    const third = api.pushMessage({ chatId: 42, text: 'hello' });
    await host.waitForInbound(2);
    expect(host.inbound).toEqual([
      { peer: '42', text: '/nodes', messageId: String(first) },
      { peer: '42', text: 'hello', messageId: String(third) },
    ]);
    const saved = JSON.parse(
      await readFile(join(stateDir, 'channels', 'telegram-offset.json'), 'utf8'),
    ) as { offset: number; botId: number };
    expect(saved).toEqual({ botId: 123456, offset: third + 1 });
    expect(c.status()).toMatchObject({
      state: 'running',
      detail: '@loopgate_test_bot: polling, 1 allowed chat',
    });
  });

  it('resumes from the persisted offset after a restart, so nothing is handled twice', async () => {
    const host = recorder();
    const first = channel(host);
    await first.start();
    const id = api.pushMessage({ chatId: 42, text: 'once' });
    await host.waitForInbound(1);
    await first.stop();

    const again = recorder();
    const second = channel(again);
    await second.start();
    // The first poll of the new process already carries the offset past the handled update.
    const call = await api.waitForGetUpdates(
      (c) => c.offset !== undefined && api.getUpdatesCalls.indexOf(c) > 0 && c.offset === id + 1,
    );
    expect(call.offset).toBe(id + 1);
    api.pushMessage({ chatId: 42, text: 'twice?' });
    await again.waitForInbound(1);
    expect(again.inbound.map((m) => m.text)).toEqual(['twice?']);
  });

  it('stops polling promptly even in the middle of a long poll', async () => {
    const c = channel(recorder(), { pollTimeoutSec: 50 });
    await c.start();
    await api.waitForGetUpdates(() => true);
    const started = performance.now();
    await c.stop();
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(c.status().state).toBe('stopped');
  });

  it('reports a rejected token as an error and stops trying', async () => {
    const host = recorder();
    const c = channel(host, {}, '999:wrong-token');
    await c.start();
    const status = await host.waitForStatus((s) => s.state === 'error');
    expect(status.detail).toContain('rejected the bot token (401 Unauthorized)');
    expect(status.detail).not.toContain('wrong-token');
    expect(api.getUpdatesCalls).toHaveLength(0);
  });

  it('reports a missing token without trying', async () => {
    const c = channel(recorder(), {}, null);
    await c.start();
    expect(c.status()).toEqual({
      name: 'telegram',
      state: 'error',
      detail: 'no bot token: set LOOPGATE_TELEGRAM_BOT_TOKEN or channels.telegram.botToken',
    });
  });

  it('shows a 409 conflict in status, then recovers', async () => {
    const host = recorder();
    api.failNext('getUpdates', {
      status: 409,
      description: 'Conflict: terminated by other getUpdates request',
      retryAfter: 0.05,
    });
    const c = channel(host);
    await c.start();
    await host.waitForStatus((s) => s.state === 'error' && (s.detail ?? '').includes('409'));
    await host.waitForStatus((s) => s.state === 'running' && (s.detail ?? '').includes('polling'));
    api.pushMessage({ chatId: 42, text: 'after conflict' });
    await host.waitForInbound(1);
  });

  it('delivers replies with sendMessage, in parts when long, waiting out a 429', async () => {
    const c = channel(recorder());
    await c.start();
    await api.waitForGetUpdates(() => true);
    api.failNext('sendMessage', {
      status: 429,
      description: 'Too Many Requests: retry after 1',
      retryAfter: 1,
    });
    const long = `${'a'.repeat(4000)}\n${'b'.repeat(100)}`;
    const { messageId } = await c.deliver('42', long, {
      messageId: 'm1',
      sessionId: 'telegram-42',
    });
    expect(api.sent.map((m) => [m.chatId, m.text.length])).toEqual([
      ['42', 4000],
      ['42', 100],
    ]);
    expect(messageId).toBe(String(api.sent[0]!.messageId));
    await expect(
      c.deliver('not a chat', 'x', { messageId: 'm2', sessionId: 's' }),
    ).rejects.toMatchObject({ code: 'BAD_REQUEST' });
  });
});
