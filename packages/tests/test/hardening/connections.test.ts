/**
 * What a connection may hold and how it is let go: the subscription cap,
 * listeners freed on every kind of close, dead peers reaped by ping/pong
 * (HARDENING rows 14 and 15).
 */
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createGatewayClient } from '@loopgate/client';
import { LoopgateConfig } from '@loopgate/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type OperatorSocket, openOperatorSocket, resultData } from '../../src/hardening/index.js';
import {
  sourceNodeArgs,
  startTestGateway,
  type TestGateway,
  waitFor,
  waitForOutput,
} from '../../src/index.js';

const SUBSCRIPTION_CAP = 5;
const PING_INTERVAL_MS = 300;
const PONG_TIMEOUT_MS = 300;
/** Reaping must happen within ping + wait; this slack covers timer granularity on a loaded machine. */
const REAP_SLACK_MS = 1_000;

let gw: TestGateway;
beforeAll(async () => {
  gw = await startTestGateway({
    config: {
      gateway: {
        limits: {
          maxSubscriptionsPerConnection: SUBSCRIPTION_CAP,
          pingIntervalMs: PING_INTERVAL_MS,
          pongTimeoutMs: PONG_TIMEOUT_MS,
        },
      },
    },
  });
});
afterAll(async () => {
  await gw.stop();
});

const listeners = () => gw.gateway.services.events.listenerCount;
const connections = () => gw.gateway.services.connections.counts().total;

function subscribe(op: OperatorSocket, id: number, types?: string[]): void {
  op.ws.send(
    JSON.stringify({
      id,
      method: 'subscription',
      params: { path: 'events', input: { json: types ? { types } : {} } },
    }),
  );
}

async function subscribedSocket(count: number, firstId = 1): Promise<OperatorSocket> {
  const op = await openOperatorSocket(gw.url, gw.token);
  for (let i = 0; i < count; i++) {
    subscribe(op, firstId + i, ['nothing.matches.']);
    expect((await op.answerTo(firstId + i)).result?.type).toBe('started');
  }
  return op;
}

describe('row 14: subscription cap and listener cleanup', () => {
  it('row 14: the shipped per-connection cap is set (at most 64)', () => {
    const cap = LoopgateConfig.parse({}).gateway.limits.maxSubscriptionsPerConnection;
    expect(cap).toBeGreaterThan(0);
    expect(cap).toBeLessThanOrEqual(64);
  });

  it('row 14: one subscription over the cap gets LIMIT_EXCEEDED; the others keep working; stopping one makes room', async () => {
    const baseline = listeners();
    const op = await subscribedSocket(SUBSCRIPTION_CAP);
    expect(listeners()).toBe(baseline + SUBSCRIPTION_CAP);
    subscribe(op, 99);
    const refused = await op.answerTo(99);
    expect(refused.error?.json.data.gatewayCode).toBe('LIMIT_EXCEEDED');
    expect(refused.error?.json.message).toMatch(`at most ${SUBSCRIPTION_CAP} subscriptions`);
    expect(listeners()).toBe(baseline + SUBSCRIPTION_CAP);
    // The socket is still usable for calls.
    expect(resultData<{ ok: boolean }>(await op.call(100, 'health')).ok).toBe(true);

    op.ws.send(JSON.stringify({ id: 1, method: 'subscription.stop' }));
    expect((await op.answerTo(1)).result?.type).toBe('stopped');
    await waitFor(() => listeners() === baseline + SUBSCRIPTION_CAP - 1, {
      what: 'the stopped subscription to release its listener',
    });
    subscribe(op, 101, ['nothing.matches.']);
    expect((await op.answerTo(101)).result?.type).toBe('started');
    op.ws.close();
    await waitFor(() => listeners() === baseline, {
      what: `listeners back to ${baseline} (now ${listeners()})`,
    });
  });

  it('row 14: 20 connections x the cap, closed cleanly, abruptly (TCP reset) and mid-subscribe: listener count back to baseline', async () => {
    const baselineListeners = listeners();
    const baselineConnections = connections();
    const sockets = await Promise.all(
      Array.from({ length: 20 }, () => subscribedSocket(SUBSCRIPTION_CAP)),
    );
    expect(listeners()).toBe(baselineListeners + 20 * SUBSCRIPTION_CAP);
    sockets.forEach((op, i) => {
      if (i % 3 === 0) op.ws.close();
      else if (i % 3 === 1) op.ws.terminate();
      else {
        // A subscribe in flight at the moment the socket dies.
        subscribe(op, 500, ['nothing.matches.']);
        op.ws.terminate();
      }
    });
    await waitFor(
      () => listeners() === baselineListeners && connections() === baselineConnections,
      {
        what: `listeners back to ${baselineListeners} (now ${listeners()}) and connections to ${baselineConnections} (now ${connections()})`,
      },
    );
  });

  it('row 14: the typed client unsubscribing or closing frees the listener', async () => {
    const baseline = listeners();
    const client = createGatewayClient({ url: gw.url, token: gw.token, retry: false });
    const startedOnce = () => {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => {
        resolve = r;
      });
      return { promise, resolve };
    };
    const started = startedOnce();
    const first = client.events.subscribe(
      { types: ['nothing.matches.'] },
      { onStarted: () => started.resolve() },
    );
    await started.promise;
    const second = startedOnce();
    client.events.subscribe({ types: ['nothing.matches.'] }, { onStarted: () => second.resolve() });
    await second.promise;
    expect(listeners()).toBe(baseline + 2);
    first.unsubscribe();
    await waitFor(() => listeners() === baseline + 1, {
      what: 'unsubscribe to release one listener',
    });
    await client.close();
    await waitFor(() => listeners() === baseline, { what: 'close to release the other' });
  });
});

describe('row 15: zombie connections', () => {
  it('row 15: a peer that stops answering protocol pings is reaped within ping + wait, and its listeners freed', async () => {
    const baselineListeners = listeners();
    const baselineConnections = connections();
    const zombie = await openOperatorSocket(gw.url, gw.token, { autoPong: false });
    subscribe(zombie, 1);
    expect((await zombie.answerTo(1)).result?.type).toBe('started');
    const since = Date.now();
    expect(connections()).toBe(baselineConnections + 1);
    const closed = await zombie.closed;
    const reapedAfter = Date.now() - since;
    // Terminated, not closed politely: the peer is presumed dead.
    expect(closed.code).toBe(1006);
    expect(reapedAfter).toBeLessThan(PING_INTERVAL_MS + PONG_TIMEOUT_MS + REAP_SLACK_MS);
    await waitFor(
      () => listeners() === baselineListeners && connections() === baselineConnections,
      { what: 'zombie state released' },
    );
  });

  it('row 15: a frozen process (SIGSTOP) holding a subscription is reaped within ping + wait', async () => {
    const baseline = connections();
    const entry = join(
      dirname(fileURLToPath(import.meta.url)),
      '../../src/hardening/idle-operator.ts',
    );
    const child = spawn(process.execPath, [...sourceNodeArgs(entry), gw.url, gw.token], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      await waitForOutput(child, (t) => t.includes('READY'), { timeoutMs: 15_000 });
      expect(connections()).toBe(baseline + 1);
      child.kill('SIGSTOP');
      const frozenAt = Date.now();
      await waitFor(() => connections() === baseline, {
        timeoutMs: 10_000,
        intervalMs: 10,
        what: 'the frozen peer to be reaped',
      });
      expect(Date.now() - frozenAt).toBeLessThan(
        PING_INTERVAL_MS + PONG_TIMEOUT_MS + REAP_SLACK_MS,
      );
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('row 15: a live but idle peer (answering pings) is never reaped', async () => {
    const idle = await openOperatorSocket(gw.url, gw.token);
    subscribe(idle, 1);
    expect((await idle.answerTo(1)).result?.type).toBe('started');
    let pings = 0;
    idle.ws.on('ping', () => pings++);
    await waitFor(() => pings >= 5, { timeoutMs: 10_000, what: 'five protocol pings' });
    expect(idle.ws.readyState).toBe(idle.ws.OPEN);
    expect(resultData<{ ok: boolean }>(await idle.call(2, 'health')).ok).toBe(true);
    idle.ws.close();
  });

  it('row 15: the shipped keepalive reaps within 30 s (ping interval + pong timeout)', () => {
    const limits = LoopgateConfig.parse({}).gateway.limits;
    expect(limits.pingIntervalMs + limits.pongTimeoutMs).toBeLessThanOrEqual(30_000);
  });
});
