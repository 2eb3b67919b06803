import { GatewayError, isGatewayError } from '@loopgate/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { createClientFor, type GatewayClient, type GatewayClientOptions } from '../src/client.js';
import type { ConnectionState } from '../src/connection-state.js';
import { rejectionOf, waitFor, waitForState } from './helpers.js';
import {
  freePort,
  type StockEvent,
  type StockRouter,
  type StockServer,
  startStockServer,
} from './stock-server.js';

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function server(options: Parameters<typeof startStockServer>[0] = {}): Promise<StockServer> {
  const s = await startStockServer(options);
  cleanups.push(() => s.stop());
  return s;
}

function client(url: string, options: GatewayClientOptions = {}): GatewayClient<StockRouter> {
  const c = createClientFor<StockRouter>({
    url,
    token: 'right',
    reconnect: { baseMs: 20, capMs: 200 },
    ...options,
  });
  cleanups.push(() => c.close());
  return c;
}

const isOpen = (s: ConnectionState) => s.state === 'open';

/** Collects a subscription's events; `until(n)` waits for the n-th. */
function collector() {
  const events: { id: string; data: StockEvent }[] = [];
  const errors: GatewayError[] = [];
  let waiter: { n: number; resolve: () => void } | undefined;
  return {
    events,
    errors,
    onData(value: { id: string; data: StockEvent }) {
      events.push(value);
      if (waiter && events.length >= waiter.n) waiter.resolve();
    },
    onError(error: GatewayError) {
      errors.push(error);
    },
    until(n: number, timeoutMs = 5_000): Promise<void> {
      if (events.length >= n) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`got ${events.length} of ${n} events`)),
          timeoutMs,
        );
        waiter = {
          n,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        };
      });
    },
  };
}

describe('calls over the stock tRPC wire', () => {
  it('answers queries and mutations with superjson types intact', async () => {
    const s = await server();
    const c = client(s.url);
    const health = await c.health.query();
    expect(health.ok).toBe(true);
    expect(health.at).toBeInstanceOf(Date);
    expect(await c.add.mutate({ a: 2, b: 40 })).toBe(42);
    const tricky = { when: new Date(5), tags: new Set(['a']), missing: undefined, big: 10n };
    expect(await c.echo.query(tricky)).toEqual(tricky);
    expect(await c.echo.query({ plain: [1, 'two', { three: null }] })).toEqual({
      plain: [1, 'two', { three: null }],
    });
  });

  it('turns error frames into GatewayErrors with the gateway code and details', async () => {
    const s = await server();
    const c = client(s.url);
    const offline = await rejectionOf(c.notConnected.query());
    expect(offline.code).toBe('NOT_CONNECTED');
    expect(offline.message).toBe('node "pi" is offline');
    expect(offline.details).toEqual({ nodeId: 'pi' });
    const missing = await rejectionOf(c.plainFailure.query());
    expect(missing.code).toBe('NOT_FOUND');
    // The connection is still usable after errors.
    expect((await c.health.query()).ok).toBe(true);
  });

  it('fails only the call whose input cannot be serialized, as BAD_REQUEST', async () => {
    const s = await server();
    const c = client(s.url);
    const hostile = {
      get boom(): never {
        throw new Error('getter exploded');
      },
    };
    const error = await rejectionOf(c.echo.query(hostile));
    expect(error.code).toBe('BAD_REQUEST');
    expect(error.message).toBe('the input of echo cannot be serialized');
    expect(await c.echo.query('fine')).toBe('fine');
  });

  it('sends the calls of one tick as one batched frame, at most 64 per frame', async () => {
    const s = await server();
    const c = client(s.url);
    await waitForState(c, isOpen);
    await c.health.query();
    const before = s.frames.length;
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => c.echo.query(i)));
    expect(results).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const frames = s.frames.slice(before).filter((f) => f !== 'PING');
    expect(frames).toHaveLength(1);
    const batch = JSON.parse(frames[0] as string) as { method: string; params: { path: string } }[];
    expect(batch).toHaveLength(10);
    expect(batch.every((m) => m.method === 'query' && m.params.path === 'echo')).toBe(true);

    const mark = s.frames.length;
    await Promise.all(Array.from({ length: 100 }, (_, i) => c.echo.query(i)));
    const sizes = s.frames
      .slice(mark)
      .filter((f) => f !== 'PING')
      .map((f) => (JSON.parse(f) as unknown[]).length);
    expect(sizes).toEqual([64, 36]);
  });

  it('refuses a URL carrying credentials before connecting anywhere', () => {
    for (const url of ['ws://127.0.0.1:1/?token=abc', 'ws://user:pw@127.0.0.1:1']) {
      let error: unknown;
      try {
        createClientFor<StockRouter>({ url, token: 'x' });
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(GatewayError);
      expect((error as GatewayError).code).toBe('BAD_REQUEST');
      expect((error as GatewayError).message).not.toContain('abc');
    }
  });

  it('sends connectionParams as the first frame and credentials never in the URL', async () => {
    const s = await server();
    const c = client(s.url, { clientName: 'test-suite' });
    await c.health.query();
    const first = JSON.parse(s.frames[0] as string);
    expect(first).toEqual({
      method: 'connectionParams',
      data: { token: 'right', clientName: 'test-suite' },
    });
  });
});

describe('subscriptions', () => {
  it('delivers tracked events and resumes after the socket is killed, with no gap and no duplicate', async () => {
    const s = await server();
    const c = client(s.url);
    const got = collector();
    let started = 0;
    c.events.subscribe(undefined, {
      onData: got.onData,
      onError: got.onError,
      onStarted: () => started++,
    });
    await waitForState(c, isOpen);
    await waitFor(() => s.frames.some((f) => f.includes('"subscription"')), 'the subscribe frame');
    await c.health.query(); // the subscription is registered server-side before this answer
    for (let i = 1; i <= 5; i++) s.emit(`e${i}`);
    await got.until(5);

    s.killClients();
    await waitForState(c, (state) => state.state === 'reconnecting');
    for (let i = 6; i <= 10; i++) s.emit(`e${i}`); // while the client is away
    await waitForState(c, isOpen);
    await got.until(10);
    for (let i = 11; i <= 15; i++) s.emit(`e${i}`);
    await got.until(15);

    expect(got.events.map((e) => e.id)).toEqual(
      Array.from({ length: 15 }, (_, i) => String(i + 1)),
    );
    expect(got.events[14]?.data).toEqual({ seq: 15, text: 'e15' });
    expect(got.errors).toEqual([]);
    expect(started).toBe(1);
    expect(s.connections).toBe(2);
    const resubscribe = s.frames.find((f) => f.includes('"lastEventId":"5"'));
    expect(resubscribe).toBeDefined();
  });

  it('moves subscriptions to a new socket when the server asks for a reconnect', async () => {
    const s = await server();
    const c = client(s.url);
    const got = collector();
    c.events.subscribe(undefined, { onData: got.onData, onError: got.onError });
    await c.health.query();
    s.emit('a');
    await got.until(1);
    s.broadcastReconnect();
    await waitFor(
      () => s.connections === 2 && s.openSockets === 1,
      'the old socket to be replaced and closed',
    );
    for (let i = 0; i < 5; i++) s.emit(`b${i}`);
    await got.until(6);
    expect(got.events.map((e) => e.id)).toEqual(['1', '2', '3', '4', '5', '6']);
    expect(c.connection.get().state).toBe('open');
  });

  it('stops a subscription on the server when unsubscribed', async () => {
    const s = await server();
    const c = client(s.url);
    const got = collector();
    const sub = c.events.subscribe(undefined, { onData: got.onData });
    s.emit('x');
    await got.until(1);
    sub.unsubscribe();
    await waitFor(() => s.frames.some((f) => f.includes('subscription.stop')), 'the stop frame');
    s.emit('y');
    await c.health.query();
    expect(got.events).toHaveLength(1);
  });
  it('stops a subscription when its signal aborts', async () => {
    const s = await server();
    const c = client(s.url);
    const got = collector();
    const controller = new AbortController();
    c.events.subscribe(undefined, { onData: got.onData, signal: controller.signal });
    s.emit('x');
    await got.until(1);
    controller.abort();
    await waitFor(() => s.frames.some((f) => f.includes('subscription.stop')), 'the stop frame');
    s.emit('y');
    await c.health.query();
    expect(got.events).toHaveLength(1);
  });
});

describe('drops and reconnects', () => {
  it('fails a mutation in flight with UNAVAILABLE and does not replay it', async () => {
    const s = await server();
    const c = client(s.url);
    await c.health.query();
    const release = s.holdSlow();
    cleanups.push(release);
    const pending = c.slow.mutate();
    await waitFor(
      () => s.frames.some((f) => f.includes('"slow"')),
      'the mutation to reach the server',
    );
    s.killClients();
    const error = await rejectionOf(pending);
    expect(error.code).toBe('UNAVAILABLE');
    expect(error.message).toMatch(/lost while the call was in flight/);
    await waitForState(c, isOpen);
    await c.health.query();
    expect(s.frames.filter((f) => f.includes('"slow"'))).toHaveLength(1);
  });

  it('sends calls made while reconnecting once the connection is back', async () => {
    const s = await server();
    const c = client(s.url);
    await c.health.query();
    s.killClients();
    await waitForState(c, (state) => state.state === 'reconnecting');
    expect(await c.add.mutate({ a: 1, b: 1 })).toBe(2);
    expect(c.connection.get().state).toBe('open');
  });

  it('reports connecting → open → reconnecting → open → closed', async () => {
    const s = await server();
    const c = client(s.url);
    const states: ConnectionState[] = [c.connection.get()];
    c.connection.subscribe((state) => states.push(state));
    await waitForState(c, isOpen);
    s.killClients();
    await waitForState(c, (state) => state.state === 'reconnecting');
    await waitForState(c, isOpen);
    await c.close();
    expect(states.map((st) => st.state)).toEqual([
      'connecting',
      'open',
      'reconnecting',
      'open',
      'closed',
    ]);
    const reconnecting = states[2] as Extract<ConnectionState, { state: 'reconnecting' }>;
    expect(reconnecting.attempt).toBe(1);
    expect(reconnecting.error?.code).toBe('UNAVAILABLE');
    expect(c.connection.latencyMs()).toBeGreaterThanOrEqual(0);
  });

  it('recovers from a full gateway restart: refused while down, then resumes', async () => {
    const s = await server();
    const c = client(s.url, { reconnectGraceMs: 60_000 });
    const got = collector();
    c.events.subscribe(undefined, { onData: got.onData, onError: got.onError });
    s.emit('before');
    await got.until(1);
    await s.stop();
    await waitForState(
      c,
      (state) => state.state === 'reconnecting' && state.error?.details?.reason === 'ECONNREFUSED',
    );
    const queued = c.add.mutate({ a: 20, b: 22 }); // waits: within the grace period
    s.emit('while-down');
    await s.start();
    expect(await queued).toBe(42);
    await got.until(2);
    expect(got.events.map((e) => e.data.text)).toEqual(['before', 'while-down']);
  });
});

describe('refusals', () => {
  it('fails every call with UNAUTHORIZED within 1 s on a wrong token and never reconnects', async () => {
    const s = await server({ token: 'right' });
    const c = client(s.url, { token: 'wrong', reconnect: { baseMs: 5, capMs: 20 } });
    const subErrors: GatewayError[] = [];
    c.events.subscribe(undefined, { onError: (e) => subErrors.push(e) });
    const started = Date.now();
    const error = await rejectionOf(c.health.query());
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(error.code).toBe('UNAUTHORIZED');
    expect(error.message).toBe('invalid token');
    const state = await waitForState(c, (st) => st.state === 'unauthorized', 1_000);
    expect(state.state === 'unauthorized' && state.error.code).toBe('UNAUTHORIZED');
    expect(subErrors.map((e) => e.code)).toEqual(['UNAUTHORIZED']);
    // Later calls fail at once with the same reason.
    expect((await rejectionOf(c.health.query())).code).toBe('UNAUTHORIZED');
    // A retry would come within ~20 ms at this backoff; give it ten times that.
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(s.connections).toBe(1);
  });

  it('fails fast with a typed UNAVAILABLE naming the refused target when retry is off', async () => {
    const port = await freePort();
    const c = client(`ws://127.0.0.1:${port}`, { retry: false });
    const started = Date.now();
    const error = await rejectionOf(c.health.query());
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(error.code).toBe('UNAVAILABLE');
    expect(error.details).toEqual({ reason: 'ECONNREFUSED' });
    expect(error.message).toBe(
      `cannot connect to ws://127.0.0.1:${port}: connection refused — is the gateway running? (loopgate gateway run)`,
    );
    const state = c.connection.get();
    expect(state.state).toBe('closed');
    expect(state.state === 'closed' && state.error?.code).toBe('UNAVAILABLE');
  });

  it('keeps retrying in the background when retry is on, and serves once the gateway appears', async () => {
    const port = await freePort();
    const c = client(`ws://127.0.0.1:${port}`);
    const got = collector();
    c.events.subscribe(undefined, { onData: got.onData, onError: got.onError });
    const error = await rejectionOf(c.health.query());
    expect(error.details?.reason).toBe('ECONNREFUSED');
    // Known down: calls fail at once instead of hanging.
    expect((await rejectionOf(c.health.query())).code).toBe('UNAVAILABLE');
    const s = await server({ port });
    await waitForState(c, isOpen);
    expect((await c.health.query()).ok).toBe(true);
    s.emit('hello');
    await got.until(1);
    expect(got.errors).toEqual([]);
  });

  it('aborts a call with CANCELLED through its signal', async () => {
    const s = await server();
    const c = client(s.url);
    const release = s.holdSlow();
    cleanups.push(release);
    const controller = new AbortController();
    const pending = c.slow.mutate(undefined, { signal: controller.signal });
    await waitFor(
      () => s.frames.some((f) => f.includes('"slow"')),
      'the mutation to reach the server',
    );
    controller.abort();
    const error = await rejectionOf(pending);
    expect(error.code).toBe('CANCELLED');
    expect(isGatewayError(error, 'CANCELLED')).toBe(true);
  });
});

describe('close()', () => {
  it('stops subscriptions, lets calls in flight finish, and does not reconnect', async () => {
    const s = await server();
    const c = client(s.url);
    let stopped = 0;
    let completed = 0;
    c.events.subscribe(undefined, { onStopped: () => stopped++, onComplete: () => completed++ });
    await c.health.query();
    const release = s.holdSlow();
    const inFlight = c.slow.mutate();
    await waitFor(
      () => s.frames.some((f) => f.includes('"slow"')),
      'the mutation to reach the server',
    );
    const closing = c.close();
    release();
    expect(await inFlight).toBe('done');
    await closing;
    expect(stopped).toBe(1);
    expect(completed).toBe(1);
    expect(c.connection.get()).toEqual({ state: 'closed' });
    expect((await rejectionOf(c.health.query())).code).toBe('CANCELLED');
    await waitFor(() => s.openSockets === 0, 'the socket to close');
    expect(s.connections).toBe(1);
  });
});
