import { mkdtemp, readFile, realpath, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { GatewayClient } from '@loopgate/client';
import { NodeKey } from '@loopgate/node';
import {
  type GatewayEvent,
  NODE_CHALLENGE_HEADER,
  type NodeInvocationMessage,
  type NodePairUpdate,
} from '@loopgate/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { nodeKeyClient, startTestGateway, type TestGateway, waitFor } from '../src/index.js';
import { rejection } from '../src/rejection.js';
import {
  type NodeProcess,
  operatorClient,
  startPairedNode,
  waitForOnline,
} from './nodes-harness.js';

let gw: TestGateway;
let op: GatewayClient;
let shared: string;
let worker: NodeProcess & { nodeId: string };
const cleanups: Array<() => Promise<unknown>> = [];

beforeAll(async () => {
  gw = await startTestGateway({
    config: {
      gateway: {
        nodes: { invokeTimeoutMs: 1_500, maxParamsBytes: 4_096, maxResultBytes: 64 * 1024 },
      },
    },
  });
  op = operatorClient(gw);
  shared = await realpath(await mkdtemp(join(tmpdir(), 'loopgate-shared-')));
  worker = await startPairedNode(gw, op, {
    name: 'worker',
    args: ['--fs-root', shared, '--allow-exec', 'sleep', '--allow-exec', 'sh'],
  });
}, 60_000);
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  await worker.stop();
  await op.close();
  await gw.stop();
  await rm(shared, { recursive: true, force: true });
});

let keys = 0;
const invoke = (
  nodeId: string,
  command: string,
  params?: unknown,
  extra: { timeoutMs?: number; idempotencyKey?: string } = {},
) =>
  op.nodes.invoke.mutate({
    nodeId,
    command,
    ...(params === undefined ? {} : { params }),
    ...(extra.timeoutMs ? { timeoutMs: extra.timeoutMs } : {}),
    idempotencyKey: extra.idempotencyKey ?? `key-${++keys}`,
  });

/** Gateway events as they happen (the test gateway runs in this process). */
function recordEvents(): { events: GatewayEvent[]; stop(): void } {
  const events: GatewayEvent[] = [];
  const controller = new AbortController();
  void (async () => {
    for await (const [, event] of gw.gateway.services.events.subscribe({
      signal: controller.signal,
    }))
      events.push(event);
  })();
  return { events, stop: () => controller.abort() };
}

describe('invoking a node process over the wire', { timeout: 60_000 }, () => {
  it('returns the result, and each refusal as its typed error', async () => {
    await expect(invoke('worker', 'system.info')).resolves.toMatchObject({
      payload: { node: 'worker' },
      replayed: false,
    });
    expect((await rejection(invoke('nobody', 'system.info'))).code).toBe('NOT_PAIRED');
    expect((await rejection(invoke('worker', 'fs.write', { path: 'x' }))).code).toBe(
      'COMMAND_NOT_ALLOWED',
    );
    const big = await rejection(invoke('worker', 'system.notify', { message: 'x'.repeat(5_000) }));
    expect(big.code).toBe('PAYLOAD_TOO_LARGE');
    // the node validates its own params; the caller sees which field was wrong
    const bad = await rejection(invoke('worker', 'system.notify', { title: 'no message' }));
    expect(bad.code).toBe('BAD_REQUEST');
    expect(bad.message).toContain('message');
    const outside = await rejection(invoke('worker', 'fs.read', { path: '/etc/hostname' }));
    expect(outside.code).toBe('FORBIDDEN');
  });

  it('times out at the gateway default and per call, and the node stops the command', async () => {
    // Start the call, then wait for the node to have it: on a loaded machine a very short
    // timeout could otherwise expire before delivery, and there would be nothing to cancel.
    const pending = rejection(
      invoke('worker', 'system.run', { command: 'sleep', args: ['30'] }, { timeoutMs: 2_500 }),
    );
    const started = await worker.waitForEvent(
      (e) => e.type === 'invocation.started' && e.command === 'system.run',
      'the sleep to start',
    );
    const perCall = await pending;
    expect(perCall.code).toBe('TIMEOUT');
    expect(perCall.details).toMatchObject({ timeoutMs: 2_500 });
    // The node holds the same deadline as the gateway: its own timer or the gateway's cancel,
    // whichever comes first under load, stops the sleep (the cancel frame itself is checked
    // with a raw node below, which has no timer of its own).
    const cancelled = await worker.waitForEvent(
      (e) => e.type === 'invocation.cancelled' && e.invocationId === started.invocationId,
      'the node to stop the timed-out command',
    );
    expect(cancelled.reason).toBe('timeout');

    const byDefault = await rejection(
      invoke('worker', 'system.run', { command: 'sleep', args: ['30'] }),
    );
    expect(byDefault.code).toBe('TIMEOUT');
    expect(byDefault.details).toMatchObject({ timeoutMs: 1_500 });
    // the node keeps serving
    await expect(invoke('worker', 'system.info')).resolves.toMatchObject({
      command: 'system.info',
    });
  });

  it('replays a repeated idempotency key instead of running the command twice', async () => {
    const run = {
      command: 'sh',
      args: ['-c', 'echo ran >> count.txt; wc -l < count.txt'],
      cwd: shared,
    };
    const first = await invoke('worker', 'system.run', run, { idempotencyKey: 'append-once' });
    const again = await invoke('worker', 'system.run', run, { idempotencyKey: 'append-once' });
    expect(again).toMatchObject({
      replayed: true,
      invocationId: first.invocationId,
      payload: first.payload,
    });
    // an in-flight duplicate joins the original
    const [a, b] = await Promise.all([
      invoke('worker', 'system.run', run, { idempotencyKey: 'append-joined' }),
      invoke('worker', 'system.run', run, { idempotencyKey: 'append-joined' }),
    ]);
    expect(a.invocationId).toBe(b.invocationId);
    expect([a.replayed, b.replayed].sort()).toEqual([false, true]);
    expect(
      (await readFile(join(shared, 'count.txt'), 'utf8')).split('\n').filter(Boolean),
    ).toHaveLength(2);
    const conflict = await rejection(
      invoke(
        'worker',
        'system.run',
        { ...run, args: ['-c', 'true'] },
        { idempotencyKey: 'append-once' },
      ),
    );
    expect(conflict.code).toBe('CONFLICT');
  });

  it('answers NODE_DISCONNECTED when the node process is SIGKILLed mid-invoke, from the socket closing rather than the ping reaper or the timeout, then NOT_CONNECTED at once', async () => {
    const victim = await startPairedNode(gw, op, {
      name: 'victim',
      args: ['--allow-exec', 'sleep'],
    });
    cleanups.push(() => victim.stop());
    const recorder = recordEvents();
    const pending = invoke(
      'victim',
      'system.run',
      { command: 'sleep', args: ['30'] },
      { timeoutMs: 20_000 },
    );
    const caught = rejection(pending);
    await victim.waitForEvent((e) => e.type === 'invocation.started', 'the sleep to start');
    const killedAt = performance.now();
    victim.child.kill('SIGKILL');
    const error = await caught;
    const elapsed = performance.now() - killedAt;
    expect(error.code).toBe('NODE_DISCONNECTED');
    // The ping reaper needs 15 s + 5 s and the invocation's timeout is 20 s: only the
    // socket's close can answer this soon, even on a loaded machine.
    expect(elapsed).toBeLessThan(5_000);
    recorder.stop();
    expect(recorder.events).toContainEqual(
      expect.objectContaining({
        type: 'node.invoke.finished',
        nodeId: victim.nodeId,
        errorCode: 'NODE_DISCONNECTED',
      }),
    );
    // no ghost: offline at once, and calls fail immediately instead of waiting for a timeout
    expect((await op.nodes.list.query()).find((n) => n.name === 'victim')).toMatchObject({
      state: 'offline',
      inFlight: 0,
    });
    const t0 = performance.now();
    expect((await rejection(invoke('victim', 'system.info'))).code).toBe('NOT_CONNECTED');
    expect(performance.now() - t0).toBeLessThan(1_000);
  });

  it('survives a gateway restart: the node process reconnects by itself and is invocable again', async () => {
    const before = worker.child.pid;
    await gw.restart();
    await worker.waitForEvent(
      (e) => e.type === 'status' && e.status === 'reconnecting',
      'the node to notice',
    );
    await waitForOnline(op, 'worker');
    await expect(invoke('worker', 'system.info')).resolves.toMatchObject({
      payload: { node: 'worker' },
    });
    expect(worker.child.pid).toBe(before);
    expect(worker.events.some((e) => e.type === 'status' && e.status === 'stopped')).toBe(false);
  });
});

// ---------------------------------------------------------------- a hand-made node on a raw socket

type RawNode = {
  ws: WebSocket;
  nextMessage(): Promise<NodeInvocationMessage>;
  /** Sends a `node.result` mutation; resolves with the gateway's answer frame. */
  post(
    result: unknown,
    path?: 'node.result' | 'node.progress',
  ): Promise<{
    result?: { data: { json: unknown } };
    error?: { json: { data: { gatewayCode: string } } };
  }>;
};

/** Pairs `name` through the real pairing flow and returns its node id and key. */
async function pairKey(
  name: string,
  commands: string[],
): Promise<{ nodeId: string; key: NodeKey }> {
  const key = NodeKey.generate();
  const asker = nodeKeyClient(gw.url, key);
  cleanups.push(() => asker.close());
  const approved = new Promise<NodePairUpdate>((resolve, reject) => {
    asker.node.pair.request.subscribe(
      { name, platform: 'raw', commands },
      {
        onData: (update) => {
          if (update.status !== 'pending') resolve(update);
        },
        onError: reject,
      },
    );
  });
  await waitFor(async () => (await op.nodes.pair.list.query()).some((p) => p.name === name), {
    what: 'the request',
  });
  await op.nodes.pair.approve.mutate({ requestId: name });
  const update = await approved;
  if (update.status !== 'approved') throw new Error(`not approved: ${update.status}`);
  return { nodeId: update.nodeId, key };
}

/** A node speaking tRPC's WebSocket protocol by hand, to send what no SDK would. */
async function rawNode(name: string, commands: string[]): Promise<RawNode> {
  const { nodeId, key } = await pairKey(name, commands);
  const ws = new WebSocket(`${gw.url}?connectionParams=1`);
  let challenge = '';
  ws.once('upgrade', (response) => {
    challenge = String(response.headers[NODE_CHALLENGE_HEADER]);
  });
  cleanups.push(async () => ws.terminate());
  const frames: Array<{
    id?: number;
    result?: { type: string; data?: { json: { data: NodeInvocationMessage } } };
  }> = [];
  const waiters: Array<() => void> = [];
  ws.on('message', (data) => {
    frames.push(JSON.parse(data.toString()));
    for (const w of waiters.splice(0)) w();
  });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  ws.send(
    JSON.stringify({
      method: 'connectionParams',
      data: { role: 'node', ...key.prove(challenge, nodeId) },
    }),
  );
  ws.send(
    JSON.stringify({
      id: 1,
      method: 'subscription',
      params: { path: 'node.invocations', input: { json: { commands } } },
    }),
  );
  const take = async <T>(match: (frame: (typeof frames)[number]) => T | undefined): Promise<T> => {
    for (;;) {
      const index = frames.findIndex((f) => match(f) !== undefined);
      if (index >= 0) return match(frames.splice(index, 1)[0]!) as T;
      await new Promise<void>((resolve) => waiters.push(resolve));
    }
  };
  let nextId = 100;
  await waitForOnline(op, name);
  return {
    ws,
    nextMessage: () =>
      take((f) => (f.id === 1 && f.result?.type === 'data' ? f.result.data?.json.data : undefined)),
    post: (result, path = 'node.result') => {
      const id = ++nextId;
      ws.send(
        JSON.stringify({ id, method: 'mutation', params: { path, input: { json: result } } }),
      );
      return take<Awaited<ReturnType<RawNode['post']>>>((f) =>
        f.id === id ? (f as never) : undefined,
      );
    },
  };
}

describe('a misbehaving node', { timeout: 60_000 }, () => {
  it('reports progress while running, visible in nodes.describe', async () => {
    const raw = await rawNode('progressive', ['raw.long']);
    const pending = invoke('progressive', 'raw.long', undefined, { timeoutMs: 10_000 });
    const message = await raw.nextMessage();
    const answer = await raw.post(
      { invocationId: message.invocationId, message: 'half way', percent: 50 },
      'node.progress',
    );
    expect(answer.result?.data.json).toEqual({ accepted: true });
    const detail = await op.nodes.describe.query({ nodeId: 'progressive' });
    expect(detail).toMatchObject({
      state: 'online',
      invocations: [
        {
          invocationId: message.invocationId,
          phase: 'delivered',
          progress: { message: 'half way', percent: 50 },
        },
      ],
    });
    await raw.post({ invocationId: message.invocationId, ok: true, payload: 'done' });
    await expect(pending).resolves.toMatchObject({ payload: 'done' });
  });

  it('gets INVALID_RESULT to the caller for garbage, and the gateway keeps serving', async () => {
    const raw = await rawNode('garbage', ['raw.echo']);
    const pending = rejection(invoke('garbage', 'raw.echo', { a: 1 }));
    const message = await raw.nextMessage();
    expect(message).toMatchObject({ kind: 'invoke', command: 'raw.echo', params: { a: 1 } });
    const answer = await raw.post({ invocationId: message.invocationId, ok: 'sure', payload: 1 });
    expect(answer.error?.json.data.gatewayCode).toBe('BAD_REQUEST');
    const error = await pending;
    expect(error.code).toBe('INVALID_RESULT');
    expect(error.message).toContain('malformed');
    // the same socket still works
    const next = invoke('garbage', 'raw.echo', { a: 2 });
    const second = await raw.nextMessage();
    await raw.post({ invocationId: second.invocationId, ok: true, payload: { echoed: 2 } });
    await expect(next).resolves.toMatchObject({ payload: { echoed: 2 } });
  });

  it('lets a result that arrived before the socket dropped win over NODE_DISCONNECTED', async () => {
    const raw = await rawNode('quitter', ['raw.echo']);
    const pending = invoke('quitter', 'raw.echo');
    const message = await raw.nextMessage();
    const frame = {
      id: 7,
      method: 'mutation',
      params: {
        path: 'node.result',
        input: { json: { invocationId: message.invocationId, ok: true, payload: 'last words' } },
      },
    };
    // no close frame: the TCP connection just ends right after the result
    raw.ws.send(JSON.stringify(frame), () =>
      (raw.ws as unknown as { _socket: { destroy(): void } })._socket.destroy(),
    );
    await expect(pending).resolves.toMatchObject({ payload: 'last words' });
  });

  it('ignores a late result after a timeout; the node was told to cancel', async () => {
    const raw = await rawNode('sluggish', ['raw.slow']);
    const pending = rejection(invoke('sluggish', 'raw.slow', undefined, { timeoutMs: 200 }));
    const message = await raw.nextMessage();
    expect((await pending).code).toBe('TIMEOUT');
    expect(await raw.nextMessage()).toEqual({
      kind: 'cancel',
      invocationId: message.invocationId,
      reason: 'timeout',
    });
    const late = await raw.post({
      invocationId: message.invocationId,
      ok: true,
      payload: 'too late',
    });
    expect(late.result?.data.json).toEqual({ accepted: false });
    const next = invoke('sluggish', 'raw.slow');
    const again = await raw.nextMessage();
    await raw.post({ invocationId: again.invocationId, ok: true, payload: 'on time' });
    await expect(next).resolves.toMatchObject({ payload: 'on time' });
  });
});

describe('a node that freezes without closing its socket', { timeout: 60_000 }, () => {
  it('is reaped by ping/pong: NODE_DISCONNECTED, offline, and back online by itself when it thaws', async () => {
    const frozenGateway = await startTestGateway({
      config: { gateway: { limits: { pingIntervalMs: 200, pongTimeoutMs: 300 } } },
    });
    const frozenOp = operatorClient(frozenGateway);
    const node = await startPairedNode(frozenGateway, frozenOp, {
      name: 'sleepy',
      args: ['--allow-exec', 'sleep'],
    });
    try {
      const caught = rejection(
        frozenOp.nodes.invoke.mutate({
          nodeId: 'sleepy',
          command: 'system.run',
          params: { command: 'sleep', args: ['30'] },
          timeoutMs: 30_000,
          idempotencyKey: 'frozen',
        }),
      );
      await node.waitForEvent((e) => e.type === 'invocation.started', 'the sleep to start');
      node.child.kill('SIGSTOP');
      // long before the 30 s timeout: the dead peer is noticed by the missed pong
      expect((await caught).code).toBe('NODE_DISCONNECTED');
      expect((await frozenOp.nodes.list.query()).find((n) => n.name === 'sleepy')).toMatchObject({
        state: 'offline',
      });
      node.child.kill('SIGCONT');
      await waitForOnline(frozenOp, 'sleepy');
      await expect(
        frozenOp.nodes.invoke.mutate({
          nodeId: 'sleepy',
          command: 'system.info',
          idempotencyKey: 'thawed',
        }),
      ).resolves.toMatchObject({ payload: { node: 'sleepy' } });
    } finally {
      node.child.kill('SIGCONT');
      await node.stop();
      await frozenOp.close();
      await frozenGateway.stop();
    }
  });
});

describe('params reach the node as the operator sent them, or are refused', {
  timeout: 60_000,
}, () => {
  it('drops undefined properties, so the node sees no key at all (not null)', async () => {
    const raw = await rawNode('literal', ['raw.echo']);
    const sent = { keep: 1, missing: undefined, nested: { gone: undefined, here: 'x' }, zero: -0 };
    const pending = invoke('literal', 'raw.echo', sent);
    const message = await raw.nextMessage();
    expect(message.kind).toBe('invoke');
    const params = (message as { params: Record<string, unknown> }).params;
    expect(params).toEqual({ keep: 1, nested: { here: 'x' }, zero: 0 });
    expect('missing' in params).toBe(false);
    expect('gone' in (params.nested as object)).toBe(false);
    await raw.post({ invocationId: message.invocationId, ok: true, payload: 'seen' });
    await expect(pending).resolves.toMatchObject({ payload: 'seen' });
  });

  it('refuses Set, Map, Date, BigInt, RegExp, Error, undefined array items and non-finite numbers by path, sending the node nothing', async () => {
    const raw = await rawNode('strict', ['raw.echo']);
    const refused: Array<[unknown, string]> = [
      [{ tags: new Set(['a']) }, 'params.tags is a Set'],
      [{ by: new Map([['a', 1]]) }, 'params.by is a Map'],
      [{ when: { at: new Date(0) } }, 'params.when.at is a Date'],
      [{ count: 10n }, 'params.count is a BigInt'],
      [{ match: /x/ }, 'params.match is a RegExp'],
      [{ list: [1, { why: new Error('no') }] }, 'params.list[1].why is an Error'],
      [{ list: [1, undefined] }, 'params.list[1] is undefined'],
      [{ 'odd key': Number.NaN }, 'params["odd key"] is NaN'],
      [{ far: Number.POSITIVE_INFINITY }, 'params.far is Infinity'],
      [new Set([1]), 'params is a Set'],
    ];
    for (const [params, path] of refused) {
      const error = await rejection(invoke('strict', 'raw.echo', params));
      expect({ code: error.code, message: error.message }).toEqual({
        code: 'BAD_REQUEST',
        message: `${path}; node params must be plain JSON`,
      });
    }
    // the first thing the node ever receives is this plain call: nothing refused reached it
    const plain = invoke('strict', 'raw.echo', { ok: [1, 'two', null] });
    const message = await raw.nextMessage();
    expect(message).toMatchObject({ kind: 'invoke', params: { ok: [1, 'two', null] } });
    await raw.post({ invocationId: message.invocationId, ok: true, payload: 'plain' });
    await expect(plain).resolves.toMatchObject({ payload: 'plain' });
  });
});
