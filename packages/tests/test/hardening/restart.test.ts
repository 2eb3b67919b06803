/**
 * The gateway going away and coming back: clients reconnect by themselves,
 * resume their event streams without gaps or repeats, and do not all come
 * back in the same instant (HARDENING rows 20 and 21).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createGatewayClient, type GatewayClient } from '@loopgate/client';
import { EPHEMERAL_EVENT_TYPES } from '@loopgate/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type GatewayProcess,
  openOperatorSocket,
  runReconnectStorm,
  startGatewayProcess,
} from '../../src/hardening/index.js';
import { makeTempDir, startTestGateway, type TestGateway, waitFor } from '../../src/index.js';
import { startTcpProxy, type TcpProxy } from '../../src/tcp-proxy.js';

type Seen = { id: number; type: string };

/** A typed client with a live, unfiltered event subscription; records what it receives and its states. */
function watchingClient(url: string, token: string) {
  const client = createGatewayClient({ url, token, clientName: 'watcher' });
  const seen: Seen[] = [];
  const states: string[] = [];
  let subscriptionErrors = 0;
  client.connection.subscribe((state) => states.push(state.state));
  client.events.subscribe(undefined, {
    onData: (envelope) => seen.push({ id: Number(envelope.id), type: envelope.data.type }),
    onError: () => subscriptionErrors++,
  });
  return { client, seen, states, errors: () => subscriptionErrors };
}

/** Some durable events nobody but the gateway does anything about: operators coming and going. */
async function produceEvents(url: string, token: string, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    const op = await openOperatorSocket(url, token);
    await op.call(1, 'health');
    op.ws.close();
    await op.closed;
  }
}

/** Durable event ids must be contiguous, each once, in order (ephemeral ticks repeat the last id by design). */
function expectEveryDurableEventOnceInOrder(seen: Seen[]): number[] {
  const durable = seen.filter((e) => !EPHEMERAL_EVENT_TYPES.has(e.type as never)).map((e) => e.id);
  const first = durable[0] as number;
  expect(durable, `durable ids ${durable.join(',')}`).toEqual(
    Array.from({ length: durable.length }, (_, i) => first + i),
  );
  return durable;
}

describe('row 20: gateway restart', () => {
  let gw: TestGateway | undefined;
  let proxy: TcpProxy | undefined;
  let proc: GatewayProcess | undefined;
  const clients: GatewayClient[] = [];
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await proxy?.close();
    await gw?.stop();
    await proc?.stop();
    proxy = undefined;
    gw = undefined;
    proc = undefined;
  });

  it('row 20: a typed client reconnects on its own after a restart and gets every durable event it missed, once, in order; a call made meanwhile is answered', async () => {
    gw = await startTestGateway();
    proxy = await startTcpProxy(gw.port);
    const watcher = watchingClient(proxy.url, gw.token);
    clients.push(watcher.client);
    await waitFor(() => watcher.client.connection.get().state === 'open', {
      what: 'the watcher connected',
    });
    await produceEvents(gw.url, gw.token, 2);
    await waitFor(() => watcher.seen.length >= 4, { what: 'live events before the restart' });

    // The gateway restarts while the watcher cannot reach it; the world goes on without it.
    proxy.refuse = true;
    await gw.restart();
    await produceEvents(gw.url, gw.token, 3);
    const lastId = Number(gw.gateway.services.events.lastEventId);
    const pending = watcher.client.health.query();
    expect(watcher.client.connection.get().state).toBe('reconnecting');

    proxy.refuse = false;
    await waitFor(() => watcher.seen.some((e) => e.id >= lastId), {
      timeoutMs: 15_000,
      what: `the watcher to catch up to event ${lastId}`,
    });
    expect((await pending).ok).toBe(true);
    // Reconnected by itself: open, dropped, retried, open again, with nothing called on it.
    expect(watcher.states).toContain('reconnecting');
    expect(watcher.states.at(-1)).toBe('open');
    const durable = expectEveryDurableEventOnceInOrder(watcher.seen);
    const types = watcher.seen.map((e) => e.type);
    expect(types).toContain('gateway.stopping');
    expect(types).toContain('gateway.started');
    expect(durable.at(-1)).toBeGreaterThanOrEqual(lastId);
    expect(watcher.errors()).toBe(0);
  });

  it('row 20: after a restart, ephemeral state is a fresh snapshot (uptime, connections), not the old gateway’s', async () => {
    gw = await startTestGateway();
    const client = createGatewayClient({ url: gw.url, token: gw.token });
    clients.push(client);
    const extra = await openOperatorSocket(gw.url, gw.token);
    await extra.call(1, 'health');
    const before = await client.status.query({ deep: false });
    expect(before.connections.total).toBe(2);
    const restartedAt = Date.now();
    await gw.restart();
    await waitFor(() => client.connection.get().state === 'open', {
      timeoutMs: 15_000,
      what: 'the client back',
    });
    const health = await client.health.query();
    const after = await client.status.query({ deep: false });
    expect(after.startedAt).toBeGreaterThanOrEqual(restartedAt);
    expect(health.uptimeMs).toBeLessThanOrEqual(Date.now() - restartedAt);
    // The raw socket did not come back by itself; only the typed client is counted.
    expect(after.connections.total).toBe(1);
    expect((await extra.closed).code).toBe(1001);
  });

  it('row 20: across a gateway process stopped and started again on its state dir, the stream resumes with no gap and no repeat', async () => {
    const stateDir = await makeTempDir('loopgate-restart-');
    proc = await startGatewayProcess({ stateDir });
    const port = proc.port;
    const watcher = watchingClient(proc.url, proc.token);
    clients.push(watcher.client);
    await waitFor(() => watcher.client.connection.get().state === 'open', {
      what: 'the watcher connected',
    });
    await produceEvents(proc.url, proc.token, 2);
    await waitFor(() => watcher.seen.length >= 4, { what: 'live events before the restart' });
    await proc.stop();
    proc = await startGatewayProcess({ stateDir, config: { gateway: { port } } });
    // Events the watcher can only get by resuming: produced at once, before its jittered reconnect.
    await produceEvents(proc.url, proc.token, 2);
    const producedAfterRestart = () => {
      const started = watcher.seen.findIndex((e) => e.type === 'gateway.started');
      return started < 0
        ? 0
        : watcher.seen.slice(started).filter((e) => e.type === 'connection.closed' && e.id).length;
    };
    // Two producers came and went; the watcher's own reconnect adds only a `connection.opened`.
    await waitFor(() => producedAfterRestart() >= 2, {
      timeoutMs: 15_000,
      what: 'the events produced after the restart',
    });
    expectEveryDurableEventOnceInOrder(watcher.seen);
    expect(watcher.seen.map((e) => e.type)).toContain('gateway.started');
  });
});

describe('row 20: gateway crash', () => {
  it('row 20: a durable event is in the events log by the time any subscriber sees it, so a crash cannot hand its id to another event', async () => {
    const gw = await startTestGateway();
    try {
      const logPath = join(gw.stateDir, 'events.jsonl');
      // A burst in one tick, as a busy gateway produces. The moment a subscriber gets the
      // first of them (the earliest any socket could carry it), every line must be on disk.
      const controller = new AbortController();
      const subscriber = gw.gateway.services.events.subscribe({
        signal: controller.signal,
        types: ['auth.'],
      });
      const firstSeen = subscriber.next();
      const entries = [1, 2, 3].map(() =>
        gw.gateway.services.events.emit({ type: 'auth.rotated' }),
      );
      const seen = await firstSeen;
      const lines = readFileSync(logPath, 'utf8').trim().split('\n').slice(-3);
      controller.abort();
      expect(seen.value?.[0]).toBe(String(entries[0]?.seq));
      expect(lines.map((line) => (JSON.parse(line) as { seq: number }).seq)).toEqual(
        entries.map((e) => e.seq),
      );
    } finally {
      await gw.stop();
    }
  });

  let proc: GatewayProcess | undefined;
  const clients: GatewayClient[] = [];
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await proc?.stop();
    proc = undefined;
  });

  it('row 20: after SIGKILLs mid-stream and restarts on the same state dir, the watcher never sees an event twice or out of order, and any loss is announced by a gap marker', async () => {
    const stateDir = await makeTempDir('loopgate-crash-restart-');
    proc = await startGatewayProcess({ stateDir });
    const { port, token } = proc;
    const watcher = watchingClient(proc.url, token);
    clients.push(watcher.client);
    await waitFor(() => watcher.client.connection.get().state === 'open', {
      what: 'the watcher connected',
    });
    for (let round = 0; round < 3; round++) {
      const current: GatewayProcess = proc;
      // A stream of events right up to the kill.
      let producing = true;
      const producer = (async () => {
        while (producing) await produceEvents(current.url, token, 1).catch(() => {});
      })();
      await new Promise((resolve) => setTimeout(resolve, 150 + round * 70));
      current.child.kill('SIGKILL');
      await current.exited;
      producing = false;
      await producer;
      proc = await startGatewayProcess({ stateDir, config: { gateway: { port } } });
    }
    const final: GatewayProcess = proc;
    await produceEvents(final.url, token, 2);
    const caughtUp = () => {
      const lastStart = watcher.seen.findLastIndex((e) => e.type === 'gateway.started');
      const starts = watcher.seen.filter((e) => e.type === 'gateway.started').length;
      return (
        starts >= 3 &&
        watcher.seen.slice(lastStart).filter((e) => e.type === 'connection.closed').length >= 2
      );
    };
    await waitFor(caughtUp, {
      timeoutMs: 20_000,
      what: 'the watcher to resume on the last gateway',
    }).catch((error: Error) => {
      throw new Error(
        `${error.message}; state ${watcher.client.connection.get().state}; seen ${watcher.seen.map((e) => `${e.id}:${e.type}`).join(' ')}`,
      );
    });
    const durable = watcher.seen.filter((e) => !EPHEMERAL_EVENT_TYPES.has(e.type as never));
    const problems: string[] = [];
    for (let i = 1; i < durable.length; i++) {
      const prev = durable[i - 1] as Seen;
      const next = durable[i] as Seen;
      if (next.id <= prev.id && next.type !== 'events.gap')
        problems.push(`#${next.id} ${next.type} after #${prev.id}`);
      if (next.id > prev.id + 1 && next.type !== 'events.gap' && prev.type !== 'events.gap')
        problems.push(`ids ${prev.id + 1}..${next.id - 1} missing with no gap marker`);
    }
    expect(
      problems,
      `durable events seen: ${durable.map((e) => `${e.id}:${e.type}`).join(' ')}`,
    ).toEqual([]);
  }, 60_000);
});

describe('row 21: reconnect storm', () => {
  it('row 21: 200 clients after a gateway process restart: jittered reconnects (largest share in any 100 ms window reported, ≤ 25 % enforced under CI load), all back and resumed', async () => {
    const result = await runReconnectStorm({ clients: 200, timeoutMs: 40_000 });
    process.stdout.write(
      `[row 21] 200 clients: largest share in 100 ms ${(result.peakShare * 100).toFixed(1)} % (${result.peakInWindow}), down ${result.downtimeMs} ms, all back ${result.allBackAfterReadyMs} ms after the restart, ${result.attempts} attempts\n`,
    );
    expect(result.resumedSubscriptions).toBe(200);
    // The catalogue's figure (~10 %) is measured by `pnpm storm` on a quiet machine (docs/hardening.md).
    // Here 200 clients share one event loop with other test files running, and a stalled loop fires
    // their timers together, so the bound is generous; stock tRPC's unjittered backoff puts nearly
    // all 200 in one window and still fails it.
    expect(result.peakShare).toBeLessThanOrEqual(0.25);
    expect(result.allBackAfterReadyMs).toBeLessThan(30_000);
  }, 60_000);
});
