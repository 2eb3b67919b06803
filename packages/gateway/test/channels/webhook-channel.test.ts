import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GatewayError, LoopgateConfig } from '@loopgate/protocol';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { signWebhook, verifyWebhook, WebhookChannel } from '../../src/channels/index.js';
import { recorder } from './recording-host.js';

const SECRET = 'shared-webhook-secret-0123';
const log = pino({ level: 'silent' });
const servers: Server[] = [];

async function listen(handler: Parameters<typeof createServer>[1]): Promise<string> {
  const server = createServer(handler);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

afterEach(async () => {
  await Promise.all(
    servers.splice(0).map(
      (s) =>
        new Promise<void>((resolve) => {
          s.close(() => resolve());
          s.closeAllConnections();
        }),
    ),
  );
});

function webhook(over: Record<string, unknown> = {}, host = recorder()) {
  const config = LoopgateConfig.parse({ channels: { webhook: { secret: SECRET, ...over } } })
    .channels.webhook!;
  return { channel: new WebhookChannel({ config, host, log, retryBaseMs: 5 }), host };
}

/** A gateway-like HTTP server that routes the webhook path to the channel. */
async function serve(channel: WebhookChannel): Promise<string> {
  return listen((req, res) => {
    if (new URL(req.url ?? '/', 'http://x').pathname === channel.path)
      void channel.handleRequest(req, res);
    else res.writeHead(404).end();
  });
}

async function post(url: string, body: string, headers: Record<string, string> = {}) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body,
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

const signed = (body: string, secret = SECRET, timestamp = Math.floor(Date.now() / 1000)) => ({
  'x-loopgate-timestamp': String(timestamp),
  'x-loopgate-signature': signWebhook(secret, timestamp, body),
});

describe('WebhookChannel inbound', () => {
  it('accepts a signed POST, hands it to the agent, and answers 202 with the run', async () => {
    const { channel, host } = webhook();
    await channel.start();
    const base = await serve(channel);
    const body = JSON.stringify({ from: 'alice', text: '/nodes', id: 'evt-1' });
    const res = await post(`${base}/hooks/inbound`, body, signed(body));
    expect(res).toEqual({
      status: 202,
      body: { ok: true, sessionId: 's-alice', runId: 'run-1', deduplicated: false },
    });
    expect(host.inbound).toEqual([{ peer: 'alice', text: '/nodes', messageId: 'evt-1' }]);
  });

  it('refuses bad signatures, stale timestamps, bad bodies, wrong methods and oversized bodies', async () => {
    const { channel, host } = webhook();
    await channel.start();
    const base = await serve(channel);
    const url = `${base}/hooks/inbound`;
    const body = JSON.stringify({ from: 'alice', text: 'hi' });
    expect((await post(url, body, signed(body, 'not-the-shared-secret!'))).status).toBe(401);
    expect((await post(url, body)).body.error).toContain('missing x-loopgate-signature');
    const stale = await post(url, body, signed(body, SECRET, Math.floor(Date.now() / 1000) - 3600));
    expect(stale).toMatchObject({ status: 401, body: { error: expect.stringContaining('300 s') } });
    const wrongShape = JSON.stringify({ text: 'no sender' });
    expect(await post(url, wrongShape, signed(wrongShape))).toMatchObject({
      status: 400,
      body: { error: expect.stringContaining('from') },
    });
    expect((await post(url, 'not json', signed('not json'))).status).toBe(400);
    const get = await fetch(url);
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('POST');
    const huge = JSON.stringify({ from: 'a', text: 'x'.repeat(70_000) });
    expect((await post(url, huge, signed(huge))).status).toBe(413);
    expect(host.inbound).toHaveLength(0);
  });

  it('maps agent refusals to HTTP (a full session queue is 429)', async () => {
    const host = recorder(async () => {
      throw new GatewayError('LIMIT_EXCEEDED', 'session busy');
    });
    const { channel } = webhook({}, host);
    await channel.start();
    const base = await serve(channel);
    const body = JSON.stringify({ from: 'bob', text: 'hi' });
    expect(await post(`${base}/hooks/inbound`, body, signed(body))).toEqual({
      status: 429,
      body: { ok: false, code: 'LIMIT_EXCEEDED', error: 'session busy' },
    });
  });

  it('without a secret the channel is in error and answers 503', async () => {
    const { channel } = webhook({ secret: undefined });
    await channel.start();
    expect(channel.status()).toMatchObject({
      state: 'error',
      detail: expect.stringContaining('channels.webhook.secret'),
    });
    const base = await serve(channel);
    expect((await post(`${base}/hooks/inbound`, '{}')).status).toBe(503);
  });
});

describe('WebhookChannel outbound', () => {
  type Received = { headers: IncomingHttpHeaders; body: string };

  async function receiver(statuses: number[]): Promise<{ url: string; received: Received[] }> {
    const received: Received[] = [];
    const url = await listen((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        received.push({ headers: req.headers, body: Buffer.concat(chunks).toString() });
        res.writeHead(statuses.shift() ?? 200).end();
      });
    });
    return { url: `${url}/receive`, received };
  }

  it('POSTs a signed message the receiver can verify', async () => {
    const { url, received } = await receiver([200]);
    const { channel } = webhook({ outboundUrl: url });
    await channel.start();
    expect(channel.status().detail).toContain(`replies to ${url}`);
    const out = await channel.deliver('alice', 'hello', {
      messageId: 'msg-1',
      sessionId: 'webhook-alice',
      runId: 'run-9',
    });
    expect(out).toEqual({ messageId: 'msg-1' });
    const [only] = received;
    expect(JSON.parse(only!.body)).toEqual({
      id: 'msg-1',
      to: 'alice',
      text: 'hello',
      sessionId: 'webhook-alice',
      runId: 'run-9',
    });
    expect(only!.headers['x-loopgate-message-id']).toBe('msg-1');
    const check = verifyWebhook(
      SECRET,
      {
        signature: only!.headers['x-loopgate-signature'] as string,
        timestamp: only!.headers['x-loopgate-timestamp'] as string,
      },
      only!.body,
      Math.floor(Date.now() / 1000),
    );
    expect(check).toMatchObject({ ok: true });
  });

  it('retries 5xx with the same message id, then succeeds', async () => {
    const { url, received } = await receiver([500, 503, 200]);
    const { channel } = webhook({ outboundUrl: url, maxRetries: 3 });
    await channel.start();
    await channel.deliver('alice', 'hi', { messageId: 'msg-2', sessionId: 's' });
    expect(received.map((r) => r.headers['x-loopgate-message-id'])).toEqual([
      'msg-2',
      'msg-2',
      'msg-2',
    ]);
  });

  it('gives up on a 4xx at once, and after maxRetries on 5xx, with a clear error', async () => {
    const refused = await receiver([400]);
    const a = webhook({ outboundUrl: refused.url, maxRetries: 3 }).channel;
    await a.start();
    await expect(a.deliver('x', 'y', { messageId: 'm', sessionId: 's' })).rejects.toMatchObject({
      code: 'UNAVAILABLE',
      message: `webhook delivery to ${refused.url} failed: HTTP 400`,
      details: { attempts: 1 },
    });
    const broken = await receiver([500, 500, 500]);
    const b = webhook({ outboundUrl: broken.url, maxRetries: 2 }).channel;
    await b.start();
    await expect(b.deliver('x', 'y', { messageId: 'm', sessionId: 's' })).rejects.toMatchObject({
      details: { attempts: 3 },
    });
    expect(broken.received).toHaveLength(3);
  });

  it('without outboundUrl, delivery explains the channel only receives', async () => {
    const { channel } = webhook();
    await channel.start();
    await expect(channel.deliver('x', 'y', { messageId: 'm', sessionId: 's' })).rejects.toThrow(
      /outboundUrl is not set/,
    );
  });
});
