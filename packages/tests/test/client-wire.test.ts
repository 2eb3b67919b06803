import { randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import {
  type ConnectionState,
  createGatewayClient,
  type GatewayClient,
  type GatewayClientOptions,
  type SocketFactory,
} from '@loopgate/client';
import { createGateway, type Gateway } from '@loopgate/gateway';
import { createNode, type LoopgateNode } from '@loopgate/node';
import { type GatewayError, type GatewayEvent, isGatewayError } from '@loopgate/protocol';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import {
  makeTempDir,
  rejection,
  startTcpProxy,
  startTestGateway,
  type TcpProxy,
  type TestGateway,
  waitFor,
} from '../src/index.js';

/**
 * The typed client's own behaviour — superjson values, error frames,
 * batching, connectionParams, subscriptions that resume, drops, restarts,
 * cancel and close — against the real gateway (in process, 127.0.0.1 port
 * 0, temp state dir) and a real node (the node SDK, paired on loopback).
 * What the client sent is read from the socket it sent it on; drops are cut
 * by a TCP relay between them, as a network would.
 */
let gw: TestGateway;
let node: LoopgateNode;
let nodeId: string;
let nodeStateDir: string;
/** `test.hold` waits for this; each test that holds resets it. */
let hold: { release(): void; promise: Promise<void> } = released();
const held: { invocationId: string; cancelled: boolean }[] = [];

function released() {
  return { release() {}, promise: Promise.resolve() };
}

function holdNext(): () => void {
  let release!: () => void;
  const promise = new Promise<void>((resolve) => {
    release = resolve;
  });
  hold = { release, promise };
  return release;
}

beforeAll(async () => {
  gw = await startTestGateway({ config: { gateway: { nodes: { autoApproveLoopback: true } } } });
  nodeStateDir = await makeTempDir('loopgate-node-');
  node = createNode({
    name: 'wire-echo',
    url: gw.url,
    stateDir: nodeStateDir,
    commands: {
      'test.echo': (params: unknown) => params,
      // What a command may take out of its context and use on its own.
      'test.context': async (
        _params: unknown,
        { progress, signal, invocationId, command, deadline },
      ) => {
        progress({ message: 'half way', percent: 50 });
        await hold.promise;
        return { invocationId, command, deadline, aborted: signal.aborted };
      },
      'test.hold': async (_params: unknown, context) => {
        const entry = { invocationId: context.invocationId, cancelled: false };
        held.push(entry);
        context.signal.addEventListener('abort', () => {
          entry.cancelled = true;
        });
        await hold.promise;
        return 'done';
      },
    },
  });
  await node.start();
  nodeId = node.nodeId as string;
});
afterAll(async () => {
  await node?.stop();
  await gw?.stop();
  await rm(nodeStateDir, { recursive: true, force: true });
});

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  hold.release();
  hold = released();
  held.length = 0;
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Every socket the client opened, and every frame it sent on them. */
type Wire = { urls: string[]; sockets: WebSocket[]; sent: string[] };

function recorder(wire: Wire): SocketFactory {
  return (url, options) => {
    const socket = new WebSocket(url, options);
    wire.urls.push(url);
    wire.sockets.push(socket);
    const send = socket.send.bind(socket);
    socket.send = ((data: string, ...rest: never[]) => {
      wire.sent.push(String(data));
      return send(data, ...rest);
    }) as typeof socket.send;
    return socket;
  };
}

/** A client of `gw` (unless `options` say otherwise) whose sockets are recorded. */
function client(options: GatewayClientOptions = {}): {
  c: GatewayClient;
  wire: Wire;
  /** Frames sent so far, keepalive pings left out. */
  frames(): string[];
} {
  const wire: Wire = { urls: [], sockets: [], sent: [] };
  const c = createGatewayClient({
    url: gw.url,
    token: gw.token,
    reconnect: { baseMs: 20, capMs: 200 },
    createSocket: recorder(wire),
    ...options,
  });
  cleanups.push(() => c.close());
  return { c, wire, frames: () => wire.sent.filter((f) => f !== 'PING') };
}

async function proxy(): Promise<TcpProxy> {
  const p = await startTcpProxy(gw.port);
  cleanups.push(() => p.close());
  return p;
}

function waitForState(
  c: GatewayClient,
  predicate: (state: ConnectionState) => boolean,
  timeoutMs = 10_000,
): Promise<ConnectionState> {
  const current = c.connection.get();
  if (predicate(current)) return Promise.resolve(current);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      stop();
      reject(new Error(`timed out; last state ${JSON.stringify(c.connection.get())}`));
    }, timeoutMs);
    const stop = c.connection.subscribe((state) => {
      if (!predicate(state)) return;
      clearTimeout(timer);
      stop();
      resolve(state);
    });
  });
}

const isOpen = (s: ConnectionState) => s.state === 'open';

/** Emits one durable event the tests subscribe to, by name. */
function emit(gateway: Gateway, name: string): void {
  gateway.services.events.emit({ type: 'session.reset', sessionId: name });
}

/** Collects `session.reset` events of a subscription; `until(n)` waits for the n-th. */
function collector() {
  const events: { id: string; name: string }[] = [];
  const errors: GatewayError[] = [];
  let waiter: { n: number; resolve: () => void } | undefined;
  return {
    events,
    errors,
    names: () => events.map((e) => e.name),
    onData({ id, data }: { id: string; data: GatewayEvent }) {
      if (data.type !== 'session.reset') return;
      events.push({ id, name: data.sessionId });
      if (waiter && events.length >= waiter.n) waiter.resolve();
    },
    onError(error: GatewayError) {
      errors.push(error);
    },
    until(n: number, timeoutMs = 10_000): Promise<void> {
      if (events.length >= n) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`got ${events.length} of ${n} events: ${this.names()}`)),
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

const sessionEvents = { types: ['session.reset'] };

describe('calls to the real gateway', () => {
  it('carries values through nodes.invoke to a node and back intact, and superjson-annotated ones reach the gateway decoded', async () => {
    const { c } = client();
    expect((await c.health.query()).ok).toBe(true);
    const value = { plain: [1, 'two', { three: null }], text: 'ü ✓', n: -0.5 };
    const answer = await c.nodes.invoke.mutate({
      nodeId,
      command: 'test.echo',
      params: value,
      idempotencyKey: randomUUID(),
    });
    expect(answer.payload).toEqual(value);
    // Node params are plain JSON by contract. What the client encodes with
    // superjson's annotations reaches the gateway decoded, and what has no
    // JSON form is refused by path before the node sees anything.
    for (const [params, path] of [
      [{ at: new Date(5) }, 'params.at'],
      [{ big: 10n }, 'params.big'],
    ] as const) {
      const refused = await rejection(
        c.nodes.invoke.mutate({
          nodeId,
          command: 'test.echo',
          params,
          idempotencyKey: randomUUID(),
        }),
      );
      expect(refused.code).toBe('BAD_REQUEST');
      expect(refused.message).toMatch(
        new RegExp(`^${path.replace('.', '\\.')} .*node params must be plain JSON`),
      );
    }
    // Typed outputs arrive as their schema says.
    expect((await c.status.query({ deep: false })).bind.port).toBe(gw.port);
  });

  it('gives a command a context it can take apart: its progress reaches nodes.describe', async () => {
    const { c } = client();
    const release = holdNext();
    const pending = c.nodes.invoke.mutate({
      nodeId,
      command: 'test.context',
      idempotencyKey: randomUUID(),
    });
    const running = await waitFor(
      async () => {
        const detail = await c.nodes.describe.query({ nodeId });
        const [invocation] = 'invocations' in detail ? detail.invocations : [];
        return invocation?.progress ? invocation : undefined;
      },
      { what: 'the progress to reach the gateway' },
    );
    expect(running.progress).toEqual({ message: 'half way', percent: 50 });
    release();
    const answer = await pending;
    expect(answer.payload).toEqual({
      invocationId: answer.invocationId,
      command: 'test.context',
      deadline: running.deadline,
      aborted: false,
    });
  });

  it('turns error frames into GatewayErrors with the gateway code and details', async () => {
    const { c, wire } = client();
    const refused = await rejection(
      c.nodes.invoke.mutate({
        nodeId,
        command: 'test.missing',
        params: {},
        idempotencyKey: randomUUID(),
      }),
    );
    expect(refused.code).toBe('COMMAND_NOT_ALLOWED');
    expect(refused.message).toBe('node "wire-echo" does not offer "test.missing"');
    expect(refused.details).toEqual({ offered: ['test.echo', 'test.context', 'test.hold'] });
    const unknown = await rejection(c.callMethod.mutate({ method: 'no.such.thing' }));
    expect(unknown.code).toBe('NOT_FOUND');
    // The connection is still usable after errors.
    expect((await c.health.query()).ok).toBe(true);
    expect(wire.sockets).toHaveLength(1);
  });

  it('fails only the call whose input cannot be serialized, as BAD_REQUEST', async () => {
    const { c, frames } = client();
    const hostile = {
      get boom(): never {
        throw new Error('getter exploded');
      },
    };
    const error = await rejection(
      c.nodes.invoke.mutate({
        nodeId,
        command: 'test.echo',
        params: hostile,
        idempotencyKey: randomUUID(),
      }),
    );
    expect(error.code).toBe('BAD_REQUEST');
    expect(error.message).toBe('the input of nodes.invoke cannot be serialized');
    const fine = await c.nodes.invoke.mutate({
      nodeId,
      command: 'test.echo',
      params: 'fine',
      idempotencyKey: randomUUID(),
    });
    expect(fine.payload).toBe('fine');
    expect(frames().some((f) => f.includes('getter exploded') || f.includes('boom'))).toBe(false);
  });

  it('sends the calls of one tick as one batched frame, at most 64 per frame', async () => {
    const { c, frames } = client();
    await c.health.query();
    const before = frames().length;
    const results = await Promise.all(Array.from({ length: 10 }, () => c.health.query()));
    expect(results.every((h) => h.ok)).toBe(true);
    const sent = frames().slice(before);
    expect(sent).toHaveLength(1);
    const batch = JSON.parse(sent[0] as string) as { method: string; params: { path: string } }[];
    expect(batch).toHaveLength(10);
    expect(batch.every((m) => m.method === 'query' && m.params.path === 'health')).toBe(true);

    const mark = frames().length;
    await Promise.all(Array.from({ length: 100 }, () => c.health.query()));
    const sizes = frames()
      .slice(mark)
      .map((f) => (JSON.parse(f) as unknown[]).length);
    expect(sizes).toEqual([64, 36]);
  });

  it('sends connectionParams as the first frame and credentials never in the URL', async () => {
    const { c, wire } = client({ clientName: 'test-suite' });
    await c.health.query();
    // `connectionParams=1` is tRPC's flag that the first frame carries them.
    expect(wire.urls).toEqual([`${gw.url}?connectionParams=1`]);
    expect(JSON.parse(wire.sent[0] as string)).toEqual({
      method: 'connectionParams',
      data: expect.objectContaining({ token: gw.token, clientName: 'test-suite' }),
    });
  });
});

describe('subscriptions to the real gateway', () => {
  it('delivers tracked events and resumes after the link is cut, with no gap and no duplicate', async () => {
    const relay = await proxy();
    const { c, wire, frames } = client({ url: relay.url });
    const got = collector();
    let started = 0;
    c.events.subscribe(sessionEvents, {
      onData: got.onData,
      onError: got.onError,
      onStarted: () => started++,
    });
    await c.health.query(); // the subscription is registered server-side before this answer
    for (let i = 1; i <= 5; i++) emit(gw.gateway, `e${i}`);
    await got.until(5);

    relay.cut();
    await waitForState(c, (state) => state.state === 'reconnecting');
    for (let i = 6; i <= 10; i++) emit(gw.gateway, `e${i}`); // while the client is away
    relay.restore();
    await waitForState(c, isOpen);
    await got.until(10);
    for (let i = 11; i <= 15; i++) emit(gw.gateway, `e${i}`);
    await got.until(15);

    expect(got.names()).toEqual(Array.from({ length: 15 }, (_, i) => `e${i + 1}`));
    const ids = got.events.map((e) => Number(e.id));
    expect(ids.every((id, i) => i === 0 || id > (ids[i - 1] as number))).toBe(true);
    expect(got.errors).toEqual([]);
    expect(started).toBe(1);
    expect(wire.sockets).toHaveLength(2);
    const resumeFrom = got.events[4]?.id as string;
    const resubscribe = frames().find((f) => f.includes(`"lastEventId":"${resumeFrom}"`));
    expect(resubscribe, `a subscribe frame resuming after ${resumeFrom}`).toBeDefined();
  });

  it('stops a subscription on the gateway when unsubscribed', async () => {
    const { c, frames } = client();
    const got = collector();
    await c.health.query();
    const listeners = gw.gateway.services.events.listenerCount;
    const sub = c.events.subscribe(sessionEvents, { onData: got.onData });
    await waitFor(() => gw.gateway.services.events.listenerCount > listeners, {
      what: 'the subscription to reach the gateway',
    });
    emit(gw.gateway, 'x');
    await got.until(1);
    sub.unsubscribe();
    await waitFor(() => gw.gateway.services.events.listenerCount === listeners, {
      what: 'the gateway to drop the subscription',
    });
    expect(frames().some((f) => f.includes('subscription.stop'))).toBe(true);
    emit(gw.gateway, 'y');
    await c.health.query();
    expect(got.names()).toEqual(['x']);
  });

  it('stops a subscription when its signal aborts', async () => {
    const { c } = client();
    const got = collector();
    await c.health.query();
    const listeners = gw.gateway.services.events.listenerCount;
    const controller = new AbortController();
    c.events.subscribe(sessionEvents, { onData: got.onData, signal: controller.signal });
    await waitFor(() => gw.gateway.services.events.listenerCount > listeners, {
      what: 'the subscription to reach the gateway',
    });
    emit(gw.gateway, 'x');
    await got.until(1);
    controller.abort();
    await waitFor(() => gw.gateway.services.events.listenerCount === listeners, {
      what: 'the gateway to drop the subscription',
    });
    emit(gw.gateway, 'y');
    await c.health.query();
    expect(got.names()).toEqual(['x']);
  });
});

describe('drops and reconnects', () => {
  it('fails a mutation in flight with UNAVAILABLE and does not replay it', async () => {
    const relay = await proxy();
    const { c, frames } = client({ url: relay.url });
    await c.health.query();
    holdNext();
    const pending = c.nodes.invoke.mutate({
      nodeId,
      command: 'test.hold',
      params: {},
      idempotencyKey: randomUUID(),
    });
    await waitFor(() => held.length === 1, { what: 'the invocation to reach the node' });
    relay.cut();
    const error = await rejection(pending);
    expect(error.code).toBe('UNAVAILABLE');
    expect(error.message).toMatch(/lost while the call was in flight/);
    relay.restore();
    await waitForState(c, isOpen);
    await c.health.query();
    expect(frames().filter((f) => f.includes('"nodes.invoke"'))).toHaveLength(1);
    expect(held).toHaveLength(1);
  });

  it('sends calls made while reconnecting once the connection is back', async () => {
    const relay = await proxy();
    const { c } = client({ url: relay.url });
    await c.health.query();
    relay.cut();
    await waitForState(c, (state) => state.state === 'reconnecting');
    const queued = c.nodes.invoke.mutate({
      nodeId,
      command: 'test.echo',
      params: 2,
      idempotencyKey: randomUUID(),
    });
    relay.restore();
    expect((await queued).payload).toBe(2);
    expect(c.connection.get().state).toBe('open');
  });

  it('reports connecting → open → reconnecting → open → closed', async () => {
    const relay = await proxy();
    const { c } = client({ url: relay.url });
    const states: ConnectionState[] = [c.connection.get()];
    c.connection.subscribe((state) => states.push(state));
    await waitForState(c, isOpen);
    relay.cut();
    await waitForState(c, (state) => state.state === 'reconnecting');
    relay.restore();
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
    const own = await startTestGateway();
    cleanups.push(() => own.stop());
    const { c } = client({
      url: own.url,
      token: own.token,
      reconnectGraceMs: 60_000,
    });
    const got = collector();
    c.events.subscribe(sessionEvents, { onData: got.onData, onError: got.onError });
    await c.health.query();
    emit(own.gateway, 'before');
    await got.until(1);
    await own.gateway.stop('test restart');
    await waitForState(
      c,
      (state) => state.state === 'reconnecting' && state.error?.details?.reason === 'ECONNREFUSED',
    );
    const queued = c.health.query(); // waits: within the grace period
    const restarted = createGateway(
      { gateway: { port: own.port }, logging: { level: 'silent' } },
      { stateDir: own.stateDir },
    );
    cleanups.push(() => restarted.stop('test finished'));
    await restarted.start();
    emit(restarted, 'after');
    expect((await queued).ok).toBe(true);
    await got.until(2);
    expect(got.names()).toEqual(['before', 'after']);
    expect(got.errors).toEqual([]);
  });
});

describe('refusals and cancels', () => {
  it('keeps retrying in the background when retry is on, and serves once the gateway appears', async () => {
    const stateDir = await makeTempDir();
    const placeholder = createGateway(
      { gateway: { port: 0 }, logging: { level: 'silent' } },
      { stateDir },
    );
    await placeholder.start();
    const { port } = placeholder;
    await placeholder.stop('freeing the port');
    const { c } = client({
      url: `ws://127.0.0.1:${port}`,
      token: undefined,
      stateDir,
      env: {},
    });
    const got = collector();
    c.events.subscribe(sessionEvents, { onData: got.onData, onError: got.onError });
    const error = await rejection(c.health.query());
    expect(error.details?.reason).toBe('ECONNREFUSED');
    // Known down: calls fail at once instead of hanging.
    expect((await rejection(c.health.query())).code).toBe('UNAVAILABLE');
    const appeared = createGateway(
      { gateway: { port }, logging: { level: 'silent' } },
      { stateDir },
    );
    cleanups.push(async () => {
      await appeared.stop('test finished');
      await rm(stateDir, { recursive: true, force: true });
    });
    await appeared.start();
    await waitForState(c, isOpen);
    expect((await c.health.query()).ok).toBe(true);
    await waitFor(() => appeared.services.events.listenerCount > 0, {
      what: 'the subscription to reach the gateway',
    });
    emit(appeared, 'hello');
    await got.until(1);
    expect(got.errors).toEqual([]);
  });

  it('aborts a call with CANCELLED through its signal, and ignores its late answer', async () => {
    const { c, wire } = client();
    const release = holdNext();
    const controller = new AbortController();
    const pending = c.nodes.invoke.mutate(
      { nodeId, command: 'test.hold', params: {}, idempotencyKey: randomUUID() },
      { signal: controller.signal },
    );
    await waitFor(() => held.length === 1, { what: 'the invocation to reach the node' });
    controller.abort();
    const error = await rejection(pending);
    expect(error.code).toBe('CANCELLED');
    expect(isGatewayError(error, 'CANCELLED')).toBe(true);
    // A mutation already sent cannot be recalled: the node finishes it, the
    // gateway answers, and the client drops the answer on the same socket.
    const finished = new Promise<void>((resolve, reject) => {
      c.events.subscribe(
        { types: ['node.invoke.finished'] },
        { onData: () => resolve(), onError: reject },
      );
    });
    await c.health.query(); // the subscription is registered before this answer
    release();
    await finished;
    const after = await c.nodes.invoke.mutate({
      nodeId,
      command: 'test.echo',
      params: 'after',
      idempotencyKey: randomUUID(),
    });
    expect(after.payload).toBe('after');
    expect(wire.sockets).toHaveLength(1);
  });
});

describe('close()', () => {
  it('stops subscriptions, lets calls in flight finish, and does not reconnect', async () => {
    const { c, wire } = client();
    let stopped = 0;
    let completed = 0;
    c.events.subscribe(sessionEvents, {
      onStopped: () => stopped++,
      onComplete: () => completed++,
    });
    await c.health.query();
    const release = holdNext();
    const inFlight = c.nodes.invoke.mutate({
      nodeId,
      command: 'test.hold',
      params: {},
      idempotencyKey: randomUUID(),
    });
    await waitFor(() => held.length === 1, { what: 'the invocation to reach the node' });
    const closing = c.close();
    release();
    expect((await inFlight).payload).toBe('done');
    await closing;
    expect(stopped).toBe(1);
    expect(completed).toBe(1);
    expect(c.connection.get()).toEqual({ state: 'closed' });
    expect((await rejection(c.health.query())).code).toBe('CANCELLED');
    await waitFor(() => wire.sockets.every((s) => s.readyState === WebSocket.CLOSED), {
      what: 'the socket to close',
    });
    expect(wire.sockets).toHaveLength(1);
  });
});

/** Long enough for several retries at the 5–20 ms backoff used below. */
const retryWindow = () => new Promise((resolve) => setTimeout(resolve, 150));
const quickRetry = { reconnect: { baseMs: 5, capMs: 20 } };

async function ownGateway(config: Parameters<typeof startTestGateway>[0]): Promise<TestGateway> {
  const own = await startTestGateway(config);
  cleanups.push(() => own.stop());
  return own;
}

describe("the gateway's close codes and refusals, as the client reads them", () => {
  it('close 4001 after connectionParams: unauthorized, pending calls fail, no retry', async () => {
    const own = await ownGateway({});
    const { c, wire } = client({ url: own.url, token: 'not-the-token', ...quickRetry });
    const error = await rejection(c.health.query());
    expect(error.code).toBe('UNAUTHORIZED');
    expect(error.message).toBe('invalid token');
    expect(error.describe()).toMatch(/check the credential: --token/);
    await waitForState(c, (s) => s.state === 'unauthorized', 1_000);
    await retryWindow();
    expect(wire.sockets).toHaveLength(1);
  });

  it('close 4029: RATE_LIMITED with retryAfterMs, and no reconnect before it has passed', async () => {
    const own = await ownGateway({
      config: { gateway: { auth: { rateLimit: { loopback: { maxFailures: 1 } } } } },
    });
    // This client's socket is admitted first, and speaks only once the address is locked out.
    let speak!: () => void;
    const maySpeak = new Promise<void>((resolve) => {
      speak = resolve;
    });
    const wire: Wire = { urls: [], sockets: [], sent: [] };
    const record = recorder(wire);
    const c = createGatewayClient({
      url: own.url,
      token: own.token,
      ...quickRetry,
      createSocket: (url, options) => {
        const socket = record(url, options);
        const send = socket.send.bind(socket);
        socket.send = ((data: string) => {
          void maySpeak.then(() => send(data));
        }) as typeof socket.send;
        return socket;
      },
    });
    cleanups.push(() => c.close());
    const pending = c.health.query();
    await waitForState(c, isOpen);
    const guesser = createGatewayClient({ url: own.url, token: 'a-wrong-guess', retry: false });
    cleanups.push(() => guesser.close());
    expect((await rejection(guesser.health.query())).code).toBe('UNAUTHORIZED');
    speak();
    const error = await rejection(pending);
    expect(error.code).toBe('RATE_LIMITED');
    expect(error.details).toMatchObject({ retryAfterMs: expect.any(Number) });
    expect(error.details?.retryAfterMs as number).toBeGreaterThan(1_000);
    const state = await waitForState(c, (s) => s.state === 'reconnecting');
    expect(state.state === 'reconnecting' && state.error?.code).toBe('RATE_LIMITED');
    await retryWindow();
    expect(wire.sockets).toHaveLength(1);
  });

  it('HTTP 429 with Retry-After before the upgrade: RATE_LIMITED, waits that long', async () => {
    const own = await ownGateway({
      config: { gateway: { auth: { rateLimit: { loopback: { maxFailures: 1 } } } } },
    });
    const guesser = createGatewayClient({ url: own.url, token: 'a-wrong-guess', retry: false });
    cleanups.push(() => guesser.close());
    expect((await rejection(guesser.health.query())).code).toBe('UNAUTHORIZED');
    const { c, wire } = client({ url: own.url, token: own.token, ...quickRetry });
    const error = await rejection(c.health.query());
    expect(error.code).toBe('RATE_LIMITED');
    expect(error.message).toMatch(
      /HTTP 429\): too many failed authentication attempts from this address: retry in 60 s$/,
    );
    expect(error.details).toMatchObject({ retryAfterMs: 60_000 });
    await retryWindow();
    expect(wire.sockets).toHaveLength(1);
  });

  it('HTTP 403 before the upgrade is final and says why', async () => {
    const own = await ownGateway({});
    const wire: Wire = { urls: [], sockets: [], sent: [] };
    const record = recorder(wire);
    const { c } = client({
      url: own.url,
      token: own.token,
      ...quickRetry,
      // A page on another site opening the socket: the browser adds its Origin.
      createSocket: (url, options) =>
        record(url, { ...options, headers: { origin: 'https://evil.example' } } as typeof options),
    });
    const error = await rejection(c.health.query());
    expect(error.code).toBe('FORBIDDEN');
    expect(error.message).toMatch(/Origin "https:\/\/evil.example" is not allowed/);
    const state = await waitForState(c, (s) => s.state === 'closed');
    expect(state.state === 'closed' && state.error?.code).toBe('FORBIDDEN');
    await retryWindow();
    expect(wire.sockets).toHaveLength(1);
  });

  it('HTTP 503 (at the connection limit) is retried', async () => {
    const own = await ownGateway({
      config: { gateway: { limits: { maxConnections: 1, reservedOperatorConnections: 1 } } },
    });
    const first = client({ url: own.url, token: own.token });
    await first.c.health.query();
    const { c, wire } = client({ url: own.url, token: own.token, ...quickRetry });
    const error = await rejection(c.health.query());
    expect(error.code).toBe('UNAVAILABLE');
    expect(error.message).toMatch(/gateway is at its connection limit \(1\)/);
    await waitForState(c, (s) => s.state === 'reconnecting' && s.attempt >= 3);
    expect(wire.sockets.length).toBeGreaterThanOrEqual(3);
  });
});
