/**
 * Filling the gateway's disk through its log without a credential (row 38
 * of docs/hardening.md): a real gateway writing its real log file, real HTTP,
 * and the stand-in Bot API speaking Telegram's real format.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeTelegramBotApi } from '../../src/fakes/index.js';
import { makeTempDir, startTestGateway, type TestGateway } from '../../src/index.js';

describe('row 38: unsigned webhook POSTs and the gateway log', () => {
  const POSTS = 2_000;
  let gw: TestGateway;
  let statuses: Map<number, number>;
  beforeAll(async () => {
    gw = await startTestGateway({
      stateDir: await makeTempDir('loopgate-log-flood-'),
      config: {
        logging: { level: 'info' },
        channels: { webhook: { secret: 'webhook-secret-for-log-flood', path: '/hooks/in' } },
      },
    });
    statuses = new Map();
    const lane = async (from: number) => {
      for (let i = from; i < POSTS; i += 8) {
        const res = await fetch(`http://127.0.0.1:${gw.port}/hooks/in`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-loopgate-signature': `sha256=${i}` },
          body: JSON.stringify({ from: 'flooder', text: `post ${i}` }),
        });
        await res.arrayBuffer();
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      }
    };
    await Promise.all(Array.from({ length: 8 }, (_, i) => lane(i)));
    // Stopping flushes the log to its file.
    await gw.stop();
  }, 120_000);
  afterAll(() => gw.stop());

  it('row 38: 2 000 unsigned webhook POSTs are all refused 401 but write a handful of log lines, with the count', async () => {
    expect(Object.fromEntries(statuses)).toEqual({ 401: POSTS });
    const log = await readFile(join(gw.stateDir, 'logs', 'gateway.log'), 'utf8');
    const refusals = log
      .split('\n')
      .filter((line) => line.includes('refused an unauthenticated request'));
    expect(refusals.length).toBeGreaterThan(0);
    expect(refusals.length).toBeLessThanOrEqual(5);
    // What was held back is counted, not lost: each line says how many refusals it stands for.
    const counted = refusals
      .map((line) => JSON.parse(line) as { refused?: number })
      .reduce((sum, entry) => sum + (entry.refused ?? 1), 0);
    expect(counted).toBe(POSTS);
  });
});

describe('row 38: messages to the bot from chats nobody allowed, and the gateway log', () => {
  const MESSAGES = 600;
  const ALLOWED = 777;

  it('row 38: 600 messages from strangers’ chats are ignored with a handful of log lines, with the count, and the allowed chat is still answered', async () => {
    const telegram = await startFakeTelegramBotApi();
    const gw = await startTestGateway({
      stateDir: await makeTempDir('loopgate-log-flood-'),
      config: {
        logging: { level: 'info' },
        channels: {
          telegram: {
            botToken: telegram.token,
            apiBaseUrl: telegram.apiBaseUrl,
            allowedChatIds: [ALLOWED],
            pollTimeoutSec: 1,
          },
        },
      },
    });
    try {
      for (let i = 0; i < MESSAGES; i++)
        telegram.pushMessage({ chatId: 90_000 + (i % 50), text: `spam ${i}` });
      telegram.pushMessage({ chatId: ALLOWED, text: '/help' });
      await telegram.waitForSent((m) => m.chatId === String(ALLOWED));
      expect(telegram.sent.every((m) => m.chatId === String(ALLOWED))).toBe(true);
    } finally {
      await gw.stop();
      await telegram.close();
    }
    const log = await readFile(join(gw.stateDir, 'logs', 'gateway.log'), 'utf8');
    const ignored = log
      .split('\n')
      .filter((line) => line.includes('not in channels.telegram.allowedChatIds'));
    expect(ignored.length).toBeGreaterThan(0);
    expect(ignored.length).toBeLessThanOrEqual(5);
    // Counted per chat and poll (a poll brings up to 100 updates): at least once per stranger's chat.
    const counted = ignored
      .map((line) => JSON.parse(line) as { refused?: number })
      .reduce((sum, entry) => sum + (entry.refused ?? 1), 0);
    expect(counted).toBeGreaterThanOrEqual(50);
    expect(counted).toBeLessThanOrEqual(MESSAGES);
  });
});
