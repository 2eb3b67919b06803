import { GatewayError, type NodeInvocationMessage } from '@loopgate/protocol';
import { describe, expect, it } from 'vitest';
import {
  type InvocationFinished,
  InvokeBroker,
  type NodeConnection,
} from '../../src/nodes/invoke-broker.js';
import { rejection } from '../rejection.js';

/** An in-memory node connection: records what the broker pushes to it. */
class RecordingConnection implements NodeConnection {
  readonly sent: NodeInvocationMessage[] = [];
  /** The JSON text the broker handed along with each message, if any. */
  readonly texts: Array<string | undefined> = [];
  broken = false;
  #waiters: Array<() => void> = [];
  constructor(
    readonly connectionId: string,
    readonly nodeId = 'nd_1',
  ) {}
  send(message: NodeInvocationMessage, json?: string): void {
    if (this.broken) throw new Error('gone');
    this.sent.push(message);
    this.texts.push(json);
    for (const w of this.#waiters.splice(0)) w();
  }
  close(): void {
    this.broken = true;
  }
  invokes(): Extract<NodeInvocationMessage, { kind: 'invoke' }>[] {
    return this.sent.filter(
      (m): m is Extract<NodeInvocationMessage, { kind: 'invoke' }> => m.kind === 'invoke',
    );
  }
  cancels(): NodeInvocationMessage[] {
    return this.sent.filter((m) => m.kind === 'cancel');
  }
}

function setup(
  options: {
    maxParamsBytes?: number;
    maxResultBytes?: number;
    windowMs?: number;
    maxRememberedKeys?: number;
    maxKeptResultBytes?: number;
  } = {},
) {
  const conn = new RecordingConnection('c1');
  const finished: InvocationFinished[] = [];
  let target: NodeConnection | GatewayError = conn;
  const broker = new InvokeBroker({
    limits: () => ({
      maxParamsBytes: options.maxParamsBytes ?? 1024,
      maxResultBytes: options.maxResultBytes ?? 1024,
      idempotencyWindowMs: options.windowMs ?? 60_000,
      maxInFlightPerNode: 256,
    }),
    resolveTarget: () => {
      if (target instanceof GatewayError) throw target;
      return { nodeId: 'nd_1', name: 'box', connection: target };
    },
    onFinished: (f) => finished.push(f),
    ...(options.maxRememberedKeys ? { maxRememberedKeys: options.maxRememberedKeys } : {}),
    ...(options.maxKeptResultBytes ? { maxKeptResultBytes: options.maxKeptResultBytes } : {}),
  });
  const setTarget = (t: NodeConnection | GatewayError) => {
    target = t;
  };
  const from = (c: RecordingConnection = conn) => ({
    connectionId: c.connectionId,
    nodeId: c.nodeId,
  });
  return { broker, conn, finished, setTarget, from };
}

const call = { nodeRef: 'box', command: 'system.info', timeoutMs: 5_000 };

describe('InvokeBroker', () => {
  it('delivers the invocation and resolves with the node payload', async () => {
    const { broker, conn, finished, from } = setup();
    const pending = broker.invoke({ ...call, params: { verbose: true } });
    const [inv] = conn.invokes();
    expect(inv).toMatchObject({
      command: 'system.info',
      params: { verbose: true },
      timeoutMs: 5_000,
    });
    expect(inv!.deadline).toBeGreaterThan(Date.now());
    expect(
      broker.postResult(from(), {
        invocationId: inv!.invocationId,
        ok: true,
        payload: { os: 'linux' },
      } as never),
    ).toEqual({
      accepted: true,
    });
    await expect(pending).resolves.toMatchObject({
      payload: { os: 'linux' },
      replayed: false,
      nodeId: 'nd_1',
    });
    expect(finished).toEqual([expect.objectContaining({ ok: true, command: 'system.info' })]);
    expect(broker.inFlightCount('nd_1')).toBe(0);
  });

  it('hands the connection the invoke message as JSON text, byte for byte what JSON.stringify makes of it', async () => {
    const { broker, conn } = setup();
    const pending = [
      broker.invoke({ ...call, params: { path: 'a "quoted"\n name', n: [1.5, -2e-7, null] } }),
      broker.invoke({ ...call, params: { kept: 1, dropped: undefined, zero: -0 } }),
      broker.invoke(call),
    ];
    expect(conn.texts).toEqual([
      JSON.stringify(conn.sent[0]),
      JSON.stringify(conn.sent[1]),
      undefined, // no params: the message carries undefined, which only the transformer can say
    ]);
    expect(conn.invokes()[1]!.params).toEqual({ kept: 1, zero: 0 });
    broker.detachConnection(conn.connectionId);
    for (const invocation of pending)
      expect((await rejection(invocation)).code).toBe('NODE_DISCONNECTED');
  });

  it('fails with NODE_DISCONNECTED the moment the connection is detached', async () => {
    const { broker, conn } = setup();
    const pending = broker.invoke(call);
    broker.detachConnection(conn.connectionId);
    const error = await rejection(pending);
    expect(error.code).toBe('NODE_DISCONNECTED');
  });

  it('lets a result that arrived before the close win', async () => {
    const { broker, conn, from } = setup();
    const pending = broker.invoke(call);
    const id = conn.invokes()[0]!.invocationId;
    broker.postResult(from(), { invocationId: id, ok: true, payload: 1 } as never);
    broker.detachConnection(conn.connectionId);
    await expect(pending).resolves.toMatchObject({ payload: 1 });
  });

  it('times out, pushes a cancel to the node, and ignores the late result', async () => {
    const { broker, conn, from } = setup();
    const error = await rejection(broker.invoke({ ...call, timeoutMs: 20 }));
    expect(error.code).toBe('TIMEOUT');
    const id = conn.invokes()[0]!.invocationId;
    expect(conn.cancels()).toEqual([{ kind: 'cancel', invocationId: id, reason: 'timeout' }]);
    expect(
      broker.postResult(from(), { invocationId: id, ok: true, payload: 'late' } as never),
    ).toEqual({
      accepted: false,
    });
  });

  it('only accepts results from the connection it delivered to', async () => {
    const { broker, conn, from } = setup();
    const pending = broker.invoke(call);
    const id = conn.invokes()[0]!.invocationId;
    const impostor = new RecordingConnection('c2');
    expect(
      broker.postResult(from(impostor), { invocationId: id, ok: true, payload: 'x' } as never)
        .accepted,
    ).toBe(false);
    broker.postResult(from(), { invocationId: id, ok: true, payload: 'real' } as never);
    await expect(pending).resolves.toMatchObject({ payload: 'real' });
  });

  it('gives the caller INVALID_RESULT for garbage and tells the node why', async () => {
    const { broker, conn, from } = setup();
    const pending = broker.invoke(call);
    const id = conn.invokes()[0]!.invocationId;
    const answer = broker.postResult(from(), { invocationId: id, ok: 'maybe' } as never);
    expect(answer.accepted).toBe(true);
    expect(answer.refused?.code).toBe('BAD_REQUEST');
    expect((await rejection(pending)).code).toBe('INVALID_RESULT');
  });

  it('refuses oversized params and results', async () => {
    const { broker, conn, from } = setup({ maxParamsBytes: 16, maxResultBytes: 16 });
    expect((await rejection(broker.invoke({ ...call, params: 'x'.repeat(32) }))).code).toBe(
      'PAYLOAD_TOO_LARGE',
    );
    expect(conn.sent).toHaveLength(0);
    const pending = broker.invoke(call);
    const id = conn.invokes()[0]!.invocationId;
    const answer = broker.postResult(from(), {
      invocationId: id,
      ok: true,
      payload: 'y'.repeat(32),
    } as never);
    expect(answer.refused?.code).toBe('PAYLOAD_TOO_LARGE');
    expect((await rejection(pending)).code).toBe('PAYLOAD_TOO_LARGE');
  });

  it('refuses params whose shared references make a huge tree, after work bounded by maxParamsBytes', async () => {
    const { broker, conn } = setup({ maxParamsBytes: 1024 });
    // What superjson's referentialEqualities build from a few hundred bytes: 2^22 leaves.
    // Every array reads through a counter, so the work is counted, not timed.
    let reads = 0;
    const counted = (array: unknown[]): unknown[] =>
      new Proxy(array, {
        get(target, key, receiver) {
          reads++;
          return Reflect.get(target, key, receiver);
        },
      });
    let dag: unknown = counted([1]);
    for (let i = 0; i < 22; i++) {
      const child = dag;
      dag = counted([child, child]);
    }
    const refused = await rejection(broker.invoke({ ...call, params: { dag } }));
    expect(refused.code).toBe('PAYLOAD_TOO_LARGE');
    expect(refused.message).toContain('gateway.nodes.maxParamsBytes (1024)');
    expect(conn.sent).toHaveLength(0);
    expect(reads).toBeGreaterThan(0);
    // unbounded, every walk reads each of the 2^23 arrays' items: ~10^7 reads
    expect(reads).toBeLessThan(8 * 1024);
  });

  it('refuses params that are not JSON', async () => {
    const { broker } = setup();
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect((await rejection(broker.invoke({ ...call, params: cyclic }))).code).toBe('BAD_REQUEST');
  });

  it('replays the first outcome for a repeated idempotency key, without a second run', async () => {
    const { broker, conn, from } = setup();
    const first = broker.invoke({ ...call, idempotencyKey: 'k1' });
    const joined = broker.invoke({ ...call, idempotencyKey: 'k1' });
    expect(conn.invokes()).toHaveLength(1);
    broker.postResult(from(), {
      invocationId: conn.invokes()[0]!.invocationId,
      ok: true,
      payload: 42,
    } as never);
    await expect(first).resolves.toMatchObject({ payload: 42, replayed: false });
    await expect(joined).resolves.toMatchObject({ payload: 42, replayed: true });
    await expect(broker.invoke({ ...call, idempotencyKey: 'k1' })).resolves.toMatchObject({
      payload: 42,
      replayed: true,
      command: 'system.info',
    });
    expect(conn.invokes()).toHaveLength(1);
  });

  it('replays failures that happened after delivery (the command may have run)', async () => {
    const { broker, conn } = setup();
    const first = broker.invoke({ ...call, idempotencyKey: 'k2' });
    broker.detachConnection(conn.connectionId);
    expect((await rejection(first)).code).toBe('NODE_DISCONNECTED');
    expect((await rejection(broker.invoke({ ...call, idempotencyKey: 'k2' }))).code).toBe(
      'NODE_DISCONNECTED',
    );
    expect(conn.invokes()).toHaveLength(1);
  });

  it('does not remember failures before delivery: a retry gets a fresh chance', async () => {
    const { broker, conn, setTarget, from } = setup();
    setTarget(new GatewayError('NOT_CONNECTED', 'offline'));
    expect((await rejection(broker.invoke({ ...call, idempotencyKey: 'k3' }))).code).toBe(
      'NOT_CONNECTED',
    );
    setTarget(conn);
    const retry = broker.invoke({ ...call, idempotencyKey: 'k3' });
    broker.postResult(from(), {
      invocationId: conn.invokes()[0]!.invocationId,
      ok: true,
      payload: 'ran',
    } as never);
    await expect(retry).resolves.toMatchObject({ payload: 'ran', replayed: false });
  });

  it('refuses a reused key with different parameters', async () => {
    const { broker } = setup();
    void broker.invoke({ ...call, idempotencyKey: 'k4', params: { a: 1 } }).catch(() => {});
    const error = await rejection(
      broker.invoke({ ...call, idempotencyKey: 'k4', params: { a: 2 } }),
    );
    expect(error.code).toBe('CONFLICT');
    broker.closeAll();
  });

  it('treats omitted params and {} as the same call for a repeated key', async () => {
    const { broker, conn } = setup();
    void broker.invoke({ ...call, idempotencyKey: 'k5' }).catch(() => {});
    const joined = broker.invoke({ ...call, idempotencyKey: 'k5', params: {} });
    expect(conn.invokes()).toHaveLength(1);
    broker.closeAll();
    expect((await rejection(joined)).code).toBe('NODE_DISCONNECTED');
  });

  it('tells large calls apart too (their identity is a hash, not their text)', async () => {
    const { broker, conn } = setup();
    const big = (tail: string) => ({ text: `${'x'.repeat(1_000)}${tail}` });
    void broker.invoke({ ...call, idempotencyKey: 'k6', params: big('a') }).catch(() => {});
    const joined = broker.invoke({ ...call, idempotencyKey: 'k6', params: big('a') });
    const error = await rejection(
      broker.invoke({ ...call, idempotencyKey: 'k6', params: big('b') }),
    );
    expect(error.code).toBe('CONFLICT');
    expect(conn.invokes()).toHaveLength(1);
    broker.closeAll();
    expect((await rejection(joined)).code).toBe('NODE_DISCONNECTED');
  });

  it('refuses a reused key for another command with the same params, running and ended', async () => {
    const { broker, conn, from } = setup();
    const first = broker.invoke({ ...call, idempotencyKey: 'k7', params: { a: 1 } });
    const other = { ...call, command: 'system.reboot', idempotencyKey: 'k7', params: { a: 1 } };
    expect((await rejection(broker.invoke(other))).code).toBe('CONFLICT');
    broker.postResult(from(), {
      invocationId: conn.invokes()[0]!.invocationId,
      ok: true,
      payload: 'ran',
    } as never);
    await expect(first).resolves.toMatchObject({ payload: 'ran' });
    expect((await rejection(broker.invoke(other))).code).toBe('CONFLICT');
    await expect(
      broker.invoke({ ...call, idempotencyKey: 'k7', params: { a: 1 } }),
    ).resolves.toMatchObject({ payload: 'ran', replayed: true });
    expect(conn.invokes()).toHaveLength(1);
  });

  it('refuses a reused key for another node, and replays it for the same node by id or name', async () => {
    const { broker, conn, from } = setup();
    const first = broker.invoke({ ...call, idempotencyKey: 'k8' });
    broker.postResult(from(), {
      invocationId: conn.invokes()[0]!.invocationId,
      ok: true,
      payload: 'ran',
    } as never);
    await first;
    const elsewhere = await rejection(
      broker.invoke({ ...call, nodeRef: 'elsewhere', idempotencyKey: 'k8' }),
    );
    expect(elsewhere.code).toBe('CONFLICT');
    for (const nodeRef of ['box', 'nd_1']) {
      await expect(
        broker.invoke({ ...call, nodeRef, idempotencyKey: 'k8' }),
      ).resolves.toMatchObject({ payload: 'ran', replayed: true });
    }
    expect(conn.invokes()).toHaveLength(1);
  });

  it('does not count the result of a call whose key was pushed out while it ran', async () => {
    // Three keys and 100 bytes of results: a, pushed out by b, c and d, ends with 80 bytes.
    const { broker, conn, from } = setup({ maxRememberedKeys: 3, maxKeptResultBytes: 100 });
    const answer = (index: number, payload: string) =>
      broker.postResult(from(), {
        invocationId: conn.invokes()[index]!.invocationId,
        ok: true,
        payload,
      } as never);
    const keyed = (key: string) => broker.invoke({ ...call, idempotencyKey: key });
    const a = keyed('a');
    const ten = 'x'.repeat(8); // 10 bytes as JSON
    for (const [i, key] of ['b', 'c', 'd'].entries()) {
      const running = keyed(key);
      answer(i + 1, ten);
      await running;
    }
    answer(0, 'x'.repeat(78));
    await a;
    const e = keyed('e');
    answer(4, ten);
    await e;
    // c, d and e hold 30 bytes: c's result is still kept, so its retry replays.
    await expect(keyed('c')).resolves.toMatchObject({ payload: ten, replayed: true });
    expect(conn.invokes()).toHaveLength(5);
  });

  it('drops the oldest kept results first once the results kept pass the budget', async () => {
    const { broker, conn, from } = setup({ maxKeptResultBytes: 25 });
    const ten = 'x'.repeat(8);
    for (const [i, key] of ['a', 'b', 'c'].entries()) {
      const running = broker.invoke({ ...call, idempotencyKey: key });
      broker.postResult(from(), {
        invocationId: conn.invokes()[i]!.invocationId,
        ok: true,
        payload: ten,
      } as never);
      await running;
    }
    const dropped = await rejection(broker.invoke({ ...call, idempotencyKey: 'a' }));
    expect(dropped.code).toBe('CONFLICT');
    expect(dropped.message).toMatch(/"a" already ran .*not kept for retries/);
    await expect(broker.invoke({ ...call, idempotencyKey: 'b' })).resolves.toMatchObject({
      replayed: true,
    });
    await expect(broker.invoke({ ...call, idempotencyKey: 'c' })).resolves.toMatchObject({
      replayed: true,
    });
    expect(conn.invokes()).toHaveLength(3);
  });

  it('cancels on the caller signal: CANCELLED to the caller, a cancel to the node', async () => {
    const { broker, conn } = setup();
    const controller = new AbortController();
    const pending = broker.invoke({ ...call, signal: controller.signal });
    controller.abort();
    expect((await rejection(pending)).code).toBe('CANCELLED');
    expect(conn.cancels()).toEqual([expect.objectContaining({ reason: 'cancelled' })]);
  });

  it('keeps running for a joined caller when only one of two callers aborts', async () => {
    const { broker, conn, from } = setup();
    const controller = new AbortController();
    const a = broker.invoke({ ...call, idempotencyKey: 'k5', signal: controller.signal });
    const b = broker.invoke({ ...call, idempotencyKey: 'k5' });
    controller.abort();
    expect((await rejection(a)).code).toBe('CANCELLED');
    expect(conn.cancels()).toHaveLength(0);
    broker.postResult(from(), {
      invocationId: conn.invokes()[0]!.invocationId,
      ok: true,
      payload: 'b',
    } as never);
    await expect(b).resolves.toMatchObject({ payload: 'b' });
  });

  it('fails with NODE_DISCONNECTED when the connection breaks while sending', async () => {
    const { broker, conn } = setup();
    conn.broken = true;
    expect((await rejection(broker.invoke({ ...call, idempotencyKey: 'k6' }))).code).toBe(
      'NODE_DISCONNECTED',
    );
    conn.broken = false;
    // never delivered, so not remembered
    const retry = broker.invoke({ ...call, idempotencyKey: 'k6' });
    expect(conn.invokes()).toHaveLength(1);
    broker.closeAll();
    await rejection(retry);
  });

  it('forwards progress to the caller and shows it in flight', async () => {
    const { broker, conn, from } = setup();
    const seen: unknown[] = [];
    const pending = broker.invoke({ ...call, onProgress: (p) => seen.push(p) });
    const id = conn.invokes()[0]!.invocationId;
    expect(broker.postProgress(from(), { invocationId: id, message: 'half', percent: 50 })).toBe(
      true,
    );
    expect(seen).toEqual([{ message: 'half', percent: 50 }]);
    expect(broker.inFlight('nd_1')).toEqual([
      expect.objectContaining({
        invocationId: id,
        phase: 'delivered',
        progress: { message: 'half', percent: 50 },
      }),
    ]);
    broker.postResult(from(), { invocationId: id, ok: true, payload: null } as never);
    await pending;
    expect(broker.postProgress(from(), { invocationId: id, message: 'late' })).toBe(false);
  });
});
