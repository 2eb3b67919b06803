import type { AppRouter } from '@loopgate/gateway';
import { GatewayErrorData, HealthOutput, StatusOutput } from '@loopgate/protocol';
import { createTRPCClient, createWSClient, type TRPCClientError, wsLink } from '@trpc/client';
import superjson from 'superjson';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startTestGateway, type TestGateway } from '../src/index.js';

let gw: TestGateway;
beforeAll(async () => {
  gw = await startTestGateway();
});
afterAll(async () => {
  await gw.stop();
});

/** A stock tRPC 11 client, exactly as the README shows it. */
function stockClient(token: string) {
  const wsClient = createWSClient({
    url: gw.url,
    connectionParams: { token },
    WebSocket: WebSocket as unknown as typeof globalThis.WebSocket,
  });
  const client = createTRPCClient<AppRouter>({
    links: [wsLink({ client: wsClient, transformer: superjson })],
  });
  return { client, close: () => wsClient.close() };
}

/** A raw socket that has authenticated, for frames no client library would send. */
async function rawSocket(token = gw.token): Promise<{
  ws: WebSocket;
  next(): Promise<unknown>;
  closed: Promise<{ code: number; reason: string }>;
}> {
  const ws = new WebSocket(`${gw.url}?connectionParams=1`);
  const inbox: unknown[] = [];
  const waiters: ((v: unknown) => void)[] = [];
  ws.on('message', (data) => {
    const msg = JSON.parse(data.toString());
    const waiter = waiters.shift();
    if (waiter) waiter(msg);
    else inbox.push(msg);
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  ws.send(JSON.stringify({ method: 'connectionParams', data: { token } }));
  return {
    ws,
    closed,
    next: () =>
      inbox.length > 0
        ? Promise.resolve(inbox.shift())
        : new Promise((resolve) => waiters.push(resolve)),
  };
}

describe('gateway core over the wire (stock tRPC client)', () => {
  it('answers health with a schema-valid result', async () => {
    const { client, close } = stockClient(gw.token);
    const health = await client.health.query();
    expect(HealthOutput.parse(health).ok).toBe(true);
    expect(health.connections.operators).toBeGreaterThanOrEqual(1);
    close();
  });

  it('answers status with bind and auth, without the token', async () => {
    const { client, close } = stockClient(gw.token);
    const status = await client.status.query({ deep: false });
    expect(StatusOutput.parse(status).bind.port).toBe(gw.port);
    expect(status.bind.addresses).toContain('127.0.0.1');
    expect(status.auth).toMatchObject({ mode: 'token', source: 'generated' });
    expect(JSON.stringify(status)).not.toContain(gw.token);
    close();
  });

  it('dispatches any procedure by dotted name through call', async () => {
    const { client, close } = stockClient(gw.token);
    const viaCall = (await client.callMethod.mutate({ method: 'health' })) as {
      ok: boolean;
      version: string;
    };
    expect(HealthOutput.parse(viaCall).ok).toBe(true);
    await expect(client.callMethod.mutate({ method: 'no.such.thing' })).rejects.toMatchObject({
      data: { gatewayCode: 'NOT_FOUND' },
    });
    await expect(
      client.callMethod.mutate({ method: 'status', params: { deep: 'yes' } }),
    ).rejects.toSatisfy((err: unknown) => {
      const data = GatewayErrorData.parse((err as TRPCClientError<AppRouter>).data);
      return data.gatewayCode === 'BAD_REQUEST' && data.issues?.[0]?.path === 'deep';
    });
    close();
  });

  it('rejects a wrong token with a typed UNAUTHORIZED and closes with 4001', async () => {
    const { ws, next, closed } = await rawSocket('wrong-token-wrong-token');
    const frame = (await next()) as {
      id: null;
      error: { json: { data: { gatewayCode: string }; message: string } };
    };
    expect(frame.id).toBeNull();
    expect(frame.error.json.data.gatewayCode).toBe('UNAUTHORIZED');
    expect(frame.error.json.message).not.toContain('wrong-token');
    const { code, reason } = await closed;
    expect(code).toBe(4001);
    expect(reason).toMatch(/^UNAUTHORIZED/);
    ws.terminate();
  });

  it('answers a malformed frame with a typed error and keeps the socket usable', async () => {
    const { ws, next } = await rawSocket();
    ws.send('{not json');
    const err = (await next()) as { id: null; error: { json: { data: { gatewayCode: string } } } };
    expect(err.error.json.data.gatewayCode).toBe('BAD_REQUEST');
    ws.send(
      JSON.stringify({ id: 7, method: 'query', params: { path: 'nope', input: { json: null } } }),
    );
    const unknown = (await next()) as {
      id: number;
      error: { json: { data: { gatewayCode: string } } };
    };
    expect(unknown).toMatchObject({
      id: 7,
      error: { json: { data: { gatewayCode: 'NOT_FOUND' } } },
    });
    ws.send(
      JSON.stringify({ id: 8, method: 'query', params: { path: 'health', input: { json: null } } }),
    );
    const ok = (await next()) as { id: number; result: { data: { json: { ok: boolean } } } };
    expect(ok.id).toBe(8);
    expect(ok.result.data.json.ok).toBe(true);
    ws.close();
  });

  it('error frames carry no stack trace or file path', async () => {
    const { ws, next } = await rawSocket();
    ws.send(
      JSON.stringify({
        id: 1,
        method: 'mutation',
        params: { path: 'callMethod', input: { json: { method: 42 } } },
      }),
    );
    const frame = JSON.stringify(await next());
    expect(frame).not.toMatch(/\bat .*\(|stack|\/work\/|node_modules|\.ts:\d+/);
    ws.close();
  });

  it('closes an oversized frame with 1009 and keeps serving others', async () => {
    const bystander = stockClient(gw.token);
    await bystander.client.health.query();
    const { ws, next, closed } = await rawSocket();
    ws.send(
      JSON.stringify({ id: 1, method: 'query', params: { path: 'health', input: { json: null } } }),
    );
    await next();
    ws.send('x'.repeat(5 * 1024 * 1024));
    expect((await closed).code).toBe(1009);
    expect((await bystander.client.health.query()).ok).toBe(true);
    bystander.close();
  });

  it('allows only a small frame before authentication (1009 at 64 KiB)', async () => {
    const ws = new WebSocket(`${gw.url}?connectionParams=1`);
    await new Promise((resolve) => ws.once('open', resolve));
    const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
    ws.send(
      JSON.stringify({ method: 'connectionParams', data: { token: 'x'.repeat(100 * 1024) } }),
    );
    expect(await closed).toBe(1009);
  });

  it('caps the batch length and answers every request in it', async () => {
    const { ws, next } = await rawSocket();
    const batch = Array.from({ length: 65 }, (_, i) => ({
      id: i + 1,
      method: 'query',
      params: { path: 'health', input: { json: null } },
    }));
    ws.send(JSON.stringify(batch));
    const first = (await next()) as {
      id: number;
      error: { json: { data: { gatewayCode: string } } };
    };
    expect(first.error.json.data.gatewayCode).toBe('LIMIT_EXCEEDED');
    ws.close();
  });

  it('answers a batch a slice at a time: the first answers leave before the rest are computed, in the order sent', async () => {
    const { ws } = await rawSocket();
    const health = (id: number) => ({
      id,
      method: 'query',
      params: { path: 'health', input: { json: null } },
    });
    // The gateway runs in this process: a turn of the event loop is visible as a setImmediate tick.
    let turn = 0;
    let ticking = true;
    const tick = () => {
      turn++;
      if (ticking) setImmediate(tick);
    };
    tick();
    const answers: { id: number; turn: number }[] = [];
    const all = new Promise<void>((resolve) => {
      ws.on('message', (data) => {
        const msg = JSON.parse(data.toString()) as { id: number; result?: unknown };
        expect(msg.result).toBeDefined();
        answers.push({ id: msg.id, turn });
        if (answers.length === 65) resolve();
      });
    });
    ws.send(JSON.stringify(Array.from({ length: 64 }, (_, i) => health(i + 1))));
    ws.send(JSON.stringify(health(1000)));
    await all;
    ticking = false;
    ws.close();
    const batchTurns = answers.filter((a) => a.id !== 1000).map((a) => a.turn);
    expect(new Set(answers.map((a) => a.id)).size).toBe(65);
    // one turn for the whole batch would make a pipelined client wait for all 64 answers
    expect(Math.max(...batchTurns)).toBeGreaterThan(Math.min(...batchTurns));
    // the frame sent after the batch waits for it: requests run in the order they were sent
    expect(answers.at(-1)?.id).toBe(1000);
  });

  it('delivers a burst of events emitted in one turn as one frame each, in order, with their ids', async () => {
    const { client, close } = stockClient(gw.token);
    const got: { id: string; messageId: unknown }[] = [];
    const done = new Promise<void>((resolve) => {
      const sub = client.events.subscribe(
        { types: ['channel.'] },
        {
          onStarted() {
            // one turn of the gateway's loop: the subscriber gets them queued, all at once
            for (let i = 0; i < 50; i++) {
              gw.gateway.services.events.emit({
                type: 'channel.message',
                channel: 'burst',
                direction: 'inbound',
                peer: 'p',
                messageId: `m${i}`,
              });
            }
          },
          onData({ id, data }) {
            got.push({ id, messageId: (data as { messageId?: unknown }).messageId });
            if (got.length === 50) {
              sub.unsubscribe();
              resolve();
            }
          },
        },
      );
    });
    await done;
    close();
    expect(got.map((g) => g.messageId)).toEqual(Array.from({ length: 50 }, (_, i) => `m${i}`));
    const ids = got.map((g) => Number(g.id));
    expect(ids.every((id, i) => i === 0 || id === ids[i - 1]! + 1)).toBe(true);
  });

  it('resumes events after a dropped connection with no gap and no duplicate', async () => {
    const first = stockClient(gw.token);
    const lastId = await new Promise<string>((resolve) => {
      const sub = first.client.events.subscribe(
        { types: ['connection.'] },
        {
          onStarted() {
            // produce one event while subscribed
            void stockClient(gw.token).client.health.query();
          },
          onData(envelope) {
            sub.unsubscribe();
            resolve(envelope.id);
          },
        },
      );
    });
    first.close();
    // Events happen while nobody listens: 3 connects and 3 disconnects.
    for (let i = 0; i < 3; i++) {
      const c = stockClient(gw.token);
      await c.client.health.query();
      c.close();
    }
    const second = stockClient(gw.token);
    const resumed: number[] = [];
    await new Promise<void>((resolve) => {
      const sub = second.client.events.subscribe(
        { lastEventId: lastId, types: ['connection.'] },
        {
          onData(envelope) {
            resumed.push(Number(envelope.id));
            if (resumed.length >= 6) {
              sub.unsubscribe();
              resolve();
            }
          },
        },
      );
    });
    second.close();
    // Only connection events happen in this window, so ids are contiguous from the resume point.
    expect(resumed).toEqual(Array.from({ length: 6 }, (_, i) => Number(lastId) + 1 + i));
  });
});

describe('failed credentials of every kind count toward the lockout', () => {
  it('locks out an address after 10 wrong node tokens (RATE_LIMITED, close 4029)', async () => {
    // Loopback is exempt only without a browser Origin, so this peer presents one the gateway allows.
    const origin = 'http://dashboard.test';
    const local = await startTestGateway({
      config: { gateway: { auth: { allowedOrigins: [origin] } } },
    });
    const attempt = () =>
      new Promise<{ code: number; reason: string }>((resolve, reject) => {
        const ws = new WebSocket(`${local.url}?connectionParams=1`, { headers: { origin } });
        ws.once('open', () =>
          ws.send(
            JSON.stringify({
              method: 'connectionParams',
              data: { role: 'node', nodeToken: 'not-a-node-token' },
            }),
          ),
        );
        ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() }));
        ws.once('unexpected-response', (_req, res) =>
          resolve({ code: res.statusCode ?? 0, reason: 'http' }),
        );
        ws.once('error', reject);
      });
    try {
      for (let i = 0; i < 10; i++) expect((await attempt()).code).toBe(4001);
      // The 11th is refused before the upgrade (HTTP 429) or at auth (4029); either way no more guessing.
      expect([429, 4029]).toContain((await attempt()).code);
    } finally {
      await local.stop();
    }
  });
});
