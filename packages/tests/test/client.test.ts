import {
  type ConnectionState,
  createGatewayClient,
  type GatewayClient,
  type GatewayClientOptions,
} from '@loopgate/client';
import {
  type GatewayError,
  type GatewayEvent,
  HealthOutput,
  StatusOutput,
} from '@loopgate/protocol';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startTestGateway, type TestGateway } from '../src/index.js';
import { rejection } from '../src/rejection.js';

/**
 * The typed client (`@loopgate/client`) against the real gateway: defaults
 * found in the state dir, typed results and errors, batching, final
 * credential refusals, and event-stream resume across a gateway restart.
 */
let gw: TestGateway;
beforeAll(async () => {
  gw = await startTestGateway();
});
afterAll(async () => {
  await gw.stop();
});

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function client(options: GatewayClientOptions): GatewayClient {
  const c = createGatewayClient({ reconnect: { baseMs: 20, capMs: 200 }, ...options });
  cleanups.push(() => c.close());
  return c;
}

function waitForState(
  c: GatewayClient,
  predicate: (s: ConnectionState) => boolean,
  timeoutMs = 5_000,
): Promise<ConnectionState> {
  if (predicate(c.connection.get())) return Promise.resolve(c.connection.get());
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      stop();
      reject(new Error(`timed out; last state ${JSON.stringify(c.connection.get())}`));
    }, timeoutMs);
    const stop = c.connection.subscribe((s) => {
      if (!predicate(s)) return;
      clearTimeout(timer);
      stop();
      resolve(s);
    });
  });
}

describe('@loopgate/client against the real gateway', () => {
  it('finds the token in the state dir and answers typed health and status', async () => {
    // No token given: the client reads <stateDir>/gateway-token like the CLI does.
    const c = client({ url: gw.url, stateDir: gw.stateDir, env: {} });
    const health = await c.health.query();
    expect(HealthOutput.parse(health).ok).toBe(true);
    const status = await c.status.query({ deep: false });
    expect(StatusOutput.parse(status).bind.port).toBe(gw.port);
    expect(c.connection.get().state).toBe('open');
  });

  it('turns gateway errors into GatewayErrors with code and field issues', async () => {
    const c = client({ url: gw.url, token: gw.token });
    const notFound = await rejection(c.callMethod.mutate({ method: 'no.such.thing' }));
    expect(notFound.code).toBe('NOT_FOUND');
    const badInput = await rejection(
      c.callMethod.mutate({ method: 'status', params: { deep: 'yes' } }),
    );
    expect(badInput.code).toBe('BAD_REQUEST');
    expect(badInput.details?.issues).toEqual([expect.objectContaining({ path: 'deep' })]);
    expect(JSON.stringify(badInput)).not.toContain(gw.token);
  });

  it('batches 100 concurrent calls within the gateway batch limit', async () => {
    const c = client({ url: gw.url, token: gw.token });
    const results = await Promise.all(Array.from({ length: 100 }, () => c.health.query()));
    expect(results.every((h) => h.ok)).toBe(true);
  });

  it('fails every call with UNAUTHORIZED within 1 s on a wrong token and never reconnects', async () => {
    // Its own gateway, so the failed attempt does not count against the shared one.
    const own = await startTestGateway();
    cleanups.push(() => own.stop());
    let sockets = 0;
    const c = client({
      url: own.url,
      token: 'not-the-token-at-all',
      reconnect: { baseMs: 5, capMs: 20 },
      createSocket: (url, options) => {
        sockets++;
        return new WebSocket(url, options);
      },
    });
    const events: GatewayError[] = [];
    c.events.subscribe(undefined, { onError: (e) => events.push(e) });
    const started = Date.now();
    const error = await rejection(c.health.query());
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(error.code).toBe('UNAUTHORIZED');
    expect(error.message).not.toContain('not-the-token-at-all');
    const state = await waitForState(c, (s) => s.state === 'unauthorized', 1_000);
    expect(state.state).toBe('unauthorized');
    expect(events.map((e) => e.code)).toEqual(['UNAUTHORIZED']);
    // A retry would come within ~20 ms at this backoff; give it ten times that.
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(sockets).toBe(1);
  });

  it('fails fast with a typed UNAVAILABLE when the gateway is down and retry is off', async () => {
    const own = await startTestGateway();
    const url = own.url;
    await own.stop();
    const c = client({ url, token: 'whatever-token-value', retry: false });
    const error = await rejection(c.health.query());
    expect(error.code).toBe('UNAVAILABLE');
    expect(error.details).toEqual({ reason: 'ECONNREFUSED' });
    expect(error.message).toBe(
      `cannot connect to ${url}: connection refused — is the gateway running? (loopgate gateway run)`,
    );
  });

  it('resumes the event stream across a gateway restart with no gap and no duplicate', async () => {
    const own = await startTestGateway();
    cleanups.push(() => own.stop());
    const c = client({ url: own.url, token: own.token });
    const sessions: string[] = [];
    const errors: GatewayError[] = [];
    let waiter: { n: number; resolve: () => void } | undefined;
    const until = (n: number) =>
      sessions.length >= n
        ? Promise.resolve()
        : new Promise<void>((resolve, reject) => {
            const timer = setTimeout(() => reject(new Error(`got ${sessions.join(',')}`)), 10_000);
            waiter = {
              n,
              resolve: () => {
                clearTimeout(timer);
                resolve();
              },
            };
          });
    c.events.subscribe(
      { types: ['session.'] },
      {
        onData({ data }: { id: string; data: GatewayEvent }) {
          if (data.type === 'session.reset') sessions.push(data.sessionId);
          if (waiter && sessions.length >= waiter.n) waiter.resolve();
        },
        onError: (e) => errors.push(e),
      },
    );
    await c.health.query(); // the subscription is registered before this answer
    for (const id of ['s1', 's2', 's3'])
      own.gateway.services.events.emit({ type: 'session.reset', sessionId: id });
    await until(3);

    await own.restart();
    // Emitted before the client is back: must arrive by replay.
    for (const id of ['s4', 's5'])
      own.gateway.services.events.emit({ type: 'session.reset', sessionId: id });
    await waitForState(c, (s) => s.state === 'open');
    await c.health.query();
    for (const id of ['s6', 's7'])
      own.gateway.services.events.emit({ type: 'session.reset', sessionId: id });
    await until(7);
    expect(sessions).toEqual(['s1', 's2', 's3', 's4', 's5', 's6', 's7']);
    expect(errors).toEqual([]);
  });

  it('pins the gateway certificate over wss:// and stops for good on a pin mismatch', async () => {
    const own = await startTestGateway({ config: { gateway: { tls: { enabled: true } } } });
    cleanups.push(() => own.stop());
    const url = `wss://127.0.0.1:${own.port}`;
    const pinned = own.gateway.tlsFingerprint;
    expect(pinned).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);

    const good = client({ url, token: own.token, tlsFingerprint: pinned });
    expect((await good.health.query()).ok).toBe(true);

    const wrongPin = `${'AB:'.repeat(31)}AB`;
    const bad = client({ url, token: own.token, tlsFingerprint: wrongPin });
    const error = await rejection(bad.health.query());
    expect(error.code).toBe('TLS_PIN_MISMATCH');
    expect(error.message).toContain(wrongPin);
    expect(error.message).toContain(pinned);
    const state = await waitForState(bad, (s) => s.state === 'pin-mismatch', 1_000);
    expect(state.state).toBe('pin-mismatch');
  });
});
