import { createHmac } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createGatewayClient } from '@loopgate/client';
import { afterEach, describe, expect, it } from 'vitest';
import { startFakeTelegramBotApi } from '../src/fakes/index.js';
import { postSignedWebhook } from '../src/hardening/index.js';
import { startTestGateway, waitFor } from '../src/index.js';

const CHAT = 777;

describe('Telegram across a gateway restart', () => {
  it('never handles an update twice, and the transcript carries on', async () => {
    const telegram = await startFakeTelegramBotApi();
    // As if the gateway died before its next poll could confirm what it handled.
    telegram.retainConfirmed = true;
    const gw = await startTestGateway({
      config: {
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
    try {
      telegram.pushMessage({ chatId: CHAT, text: '/help' });
      await telegram.waitForSent((m) => m.text.startsWith('Directives:'));
      await gw.restart();
      telegram.pushMessage({ chatId: CHAT, text: '/nodes' });
      await telegram.waitForSent((m) => m.text.startsWith('No nodes are paired yet'));
      expect(telegram.sent.map((m) => m.text.split('\n')[0])).toEqual([
        'Directives:',
        expect.stringMatching(/^No nodes are paired yet/),
      ]);
      // The restarted gateway asked for updates after the persisted offset on its very first poll.
      const afterRestart = telegram.getUpdatesCalls.filter((c) => c.offset !== undefined);
      expect(afterRestart.length).toBeGreaterThan(0);

      const op = createGatewayClient({ url: gw.url, token: gw.token });
      try {
        const sessionId = `telegram-${CHAT}`;
        await waitFor(
          async () =>
            (await op.sessions.history.query({ sessionId })).entries.filter(
              (e) => e.kind === 'outbound',
            ).length === 2,
          {
            what: 'both replies in the transcript',
          },
        );
        const entries = (await op.sessions.history.query({ sessionId })).entries;
        expect(
          entries.filter((e) => e.kind === 'user').map((e) => (e.kind === 'user' ? e.text : '')),
        ).toEqual(['/help', '/nodes']);
        expect(entries.map((e) => e.seq)).toEqual(entries.map((_, i) => i + 1));
      } finally {
        await op.close();
      }
    } finally {
      await gw.stop();
      await telegram.close();
    }
  });
});

describe('webhook channel on the gateway port', () => {
  const SECRET = 'webhook-secret-for-e2e-1234';
  const servers: Server[] = [];
  afterEach(async () => {
    for (const s of servers.splice(0)) {
      s.closeAllConnections();
      await new Promise<void>((resolve) => s.close(() => resolve()));
    }
  });

  const sign = (timestamp: number, body: string) =>
    `sha256=${createHmac('sha256', SECRET).update(`${timestamp}.${body}`).digest('hex')}`;

  it('a signed POST runs the agent and the reply is POSTed, signed, to the outbound URL', async () => {
    const received: Array<{ headers: IncomingHttpHeaders; body: string }> = [];
    const receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => {
        body += c.toString();
      });
      req.on('end', () => {
        received.push({ headers: req.headers, body });
        res.writeHead(204).end();
      });
    });
    servers.push(receiver);
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const outboundUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/loopgate`;

    const gw = await startTestGateway({
      config: { channels: { webhook: { secret: SECRET, outboundUrl, path: '/hooks/inbound' } } },
    });
    try {
      const body = JSON.stringify({ from: 'ci-bot', text: '/help', id: 'evt-42' });
      const signed = {
        port: gw.port,
        path: '/hooks/inbound',
        secret: SECRET,
        body,
        timestampSec: Math.floor(Date.now() / 1000),
      };

      const accepted = await postSignedWebhook(signed);
      expect(accepted.status).toBe(202);
      const first = accepted.body as { ok: boolean; sessionId: string; runId: string };
      expect(first).toMatchObject({ ok: true, sessionId: 'webhook-ci-bot', deduplicated: false });

      // The sender retries the same event: accepted, but not run (or answered) again.
      const retried = await postSignedWebhook(signed);
      expect(retried.body).toMatchObject({ runId: first.runId, deduplicated: true });

      await waitFor(() => received.length >= 1, { what: 'the reply at the outbound URL' });
      const [reply] = received;
      const payload = JSON.parse(reply!.body) as {
        id: string;
        to: string;
        text: string;
        sessionId: string;
        runId: string;
      };
      expect(payload).toMatchObject({
        to: 'ci-bot',
        sessionId: 'webhook-ci-bot',
        runId: first.runId,
      });
      expect(payload.text).toMatch(/^Directives:/);
      const ts = Number(reply!.headers['x-loopgate-timestamp']);
      expect(reply!.headers['x-loopgate-signature']).toBe(sign(ts, reply!.body));
      expect(reply!.headers['x-loopgate-message-id']).toBe(payload.id);

      const unsigned = await fetch(`http://127.0.0.1:${gw.port}/hooks/inbound`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
      });
      expect(unsigned.status).toBe(401);
      expect((await fetch(`http://127.0.0.1:${gw.port}/elsewhere`)).status).toBe(426);
      // give a duplicate reply a chance to show up before asserting there is none
      const op = createGatewayClient({ url: gw.url, token: gw.token });
      try {
        await op['agent.wait'].query({ runId: first.runId, timeoutMs: 5_000 });
        await waitFor(
          async () =>
            (await op.sessions.history.query({ sessionId: 'webhook-ci-bot' })).entries.some(
              (e) => e.kind === 'outbound',
            ),
          {
            what: 'the reply recorded',
          },
        );
      } finally {
        await op.close();
      }
      expect(received).toHaveLength(1);
    } finally {
      await gw.stop();
    }
  });
});
