import { Socket } from 'node:net';
import { createGatewayClient, type GatewayClient } from '@loopgate/client';
import { CloseCode, type GatewayEvent } from '@loopgate/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startTestGateway, type TestGateway, waitFor } from '../src/index.js';

/**
 * A subscriber that stops reading must cost the gateway at most its
 * configured outgoing buffer, be cut off promptly, and slow nobody else down.
 * The gateway runs in this process so the test can watch the server side of
 * each socket (the bytes `ws` has queued after every frame the adapter sends).
 */
const CAP = 512 * 1024;
/** Events big enough that the flood is mostly bytes, not per-event overhead. */
const PEER = 'p'.repeat(4_000);
const HEALTHY = 10;
/** Per phase: ~16 MB, far more than the cap plus what loopback socket buffers absorb (a few MB). */
const FLOOD_EVENTS = 4_000;
const CHUNK = 50;

type ServerSocketWatch = {
  maxBuffered: number;
  crossedAt?: number;
  sendsAfterCrossing: number;
  closedAt?: number;
};

/**
 * Server-side sockets (`ws` marks them `_isServer`), watched through every
 * write of a text frame to the TCP socket under them: the adapter writes a
 * tick's frames there as one buffer, `ws.send` writes each frame's header
 * there first, so either way a write that starts with a FIN text-frame byte
 * is a send (a close frame, 0x88, is not).
 */
const watched = new Map<WebSocket, ServerSocketWatch>();
const originalWrite = Socket.prototype.write;
const TEXT_FRAME = 0x81;

function ownerOf(socket: Socket): WebSocket | undefined {
  const key = Object.getOwnPropertySymbols(socket).find((k) => k.description === 'websocket');
  const owner = key ? (socket as unknown as Record<symbol, unknown>)[key] : undefined;
  // duck-typed: the gateway may load its own copy of `ws`
  return (owner as { _isServer?: boolean } | undefined)?._isServer === true
    ? (owner as WebSocket)
    : undefined;
}

let gw: TestGateway;
beforeAll(async () => {
  Socket.prototype.write = function watchedWrite(this: Socket, ...args: unknown[]) {
    const result = (originalWrite as (...a: unknown[]) => boolean).apply(this, args);
    const chunk = args[0];
    const ws = Buffer.isBuffer(chunk) && chunk[0] === TEXT_FRAME ? ownerOf(this) : undefined;
    if (ws) {
      let watch = watched.get(ws);
      if (!watch) {
        const fresh: ServerSocketWatch = { maxBuffered: 0, sendsAfterCrossing: 0 };
        watch = fresh;
        watched.set(ws, fresh);
        ws.once('close', () => {
          fresh.closedAt = performance.now();
        });
      }
      if (watch.crossedAt !== undefined) watch.sendsAfterCrossing++;
      watch.maxBuffered = Math.max(watch.maxBuffered, ws.bufferedAmount);
      if (watch.crossedAt === undefined && ws.bufferedAmount > CAP)
        watch.crossedAt = performance.now();
    }
    return result;
  } as Socket['write'];
  gw = await startTestGateway({ config: { gateway: { limits: { maxBufferedBytes: CAP } } } });
});
afterAll(async () => {
  Socket.prototype.write = originalWrite;
  await gw?.stop();
});

type Healthy = { client: GatewayClient; ids: number[]; gaps: number };

async function healthySubscribers(): Promise<Healthy[]> {
  const out: Healthy[] = [];
  for (let i = 0; i < HEALTHY; i++) {
    const client = createGatewayClient({
      url: gw.url,
      token: gw.token,
      clientName: `healthy-${i}`,
      retry: false,
    });
    const sub: Healthy = { client, ids: [], gaps: 0 };
    await new Promise<void>((resolve, reject) => {
      client.events.subscribe(
        { types: ['channel.', 'events.'] },
        {
          onStarted: () => resolve(),
          onError: reject,
          onData: ({ data }: { data: GatewayEvent }) => {
            if (data.type === 'events.gap') sub.gaps++;
            else if (data.type === 'channel.message') sub.ids.push(Number(data.messageId));
          },
        },
      );
    });
    out.push(sub);
  }
  return out;
}

/** A raw tRPC subscriber that authenticates, subscribes, then stops reading its socket. */
async function stalledSubscriber(): Promise<{ ws: WebSocket; closed: Promise<number> }> {
  const ws = new WebSocket(`${gw.url}?connectionParams=1`, { perMessageDeflate: false });
  const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  ws.send(JSON.stringify({ method: 'connectionParams', data: { token: gw.token } }));
  ws.send(
    JSON.stringify({
      id: 1,
      method: 'subscription',
      params: { path: 'events', input: { json: { types: ['channel.'] } } },
    }),
  );
  await new Promise<void>((resolve) =>
    ws.on('message', (data) => {
      if (
        (JSON.parse(data.toString()) as { result?: { type?: string } }).result?.type === 'started'
      )
        resolve();
    }),
  );
  (ws as unknown as { _socket: { pause(): void } })._socket.pause();
  return { ws, closed };
}

/**
 * Emits `count` events in chunks, each chunk once every healthy subscriber
 * has the previous one — as fast as healthy readers go, never faster.
 */
async function flood(from: number, count: number, healthy: Healthy[]): Promise<number> {
  const started = performance.now();
  for (let sent = 0; sent < count; ) {
    for (let i = 0; i < CHUNK; i++, sent++) {
      gw.gateway.services.events.emit({
        type: 'channel.message',
        channel: 'flood',
        direction: 'outbound',
        peer: PEER,
        messageId: String(from + sent),
      });
    }
    const target = sent;
    await waitFor(() => healthy.every((h) => h.ids.length >= from + target), {
      timeoutMs: 20_000,
      intervalMs: 1,
      what: `${from + target} events at every healthy subscriber`,
    });
  }
  return performance.now() - started;
}

describe('slow consumers', () => {
  it('closes a subscriber that stops reading at the buffer cap while ten others keep full speed', async () => {
    const healthy = await healthySubscribers();
    const log = (line: string) => process.stderr.write(`slow-consumer: ${line}\n`);
    const baselineMs = await flood(0, FLOOD_EVENTS, healthy);
    const rssBefore = process.memoryUsage().rss;

    const stalled = await stalledSubscriber();
    const withStalledMs = await flood(FLOOD_EVENTS, FLOOD_EVENTS, healthy);
    const rssAfter = process.memoryUsage().rss;
    log(
      `baseline ${baselineMs.toFixed(0)} ms, with a stalled subscriber ${withStalledMs.toFixed(0)} ms, RSS +${((rssAfter - rssBefore) / 2 ** 20).toFixed(1)} MB`,
    );

    const crossed = [...watched.values()].filter((w) => w.crossedAt !== undefined);
    expect(crossed, 'exactly one server socket (the stalled one) went over the cap').toHaveLength(
      1,
    );
    const slow = crossed[0]!;
    // The frame that crosses the cap is the last one queued; nothing is added after it.
    expect(slow.maxBuffered).toBeLessThanOrEqual(CAP + 16 * 1024);
    expect(slow.sendsAfterCrossing).toBe(0);
    await waitFor(() => slow.closedAt !== undefined, {
      timeoutMs: 2_000,
      what: 'the stalled socket to be closed',
    });
    expect(slow.closedAt! - slow.crossedAt!).toBeLessThan(1_000);

    // The stalled client sees why once it reads again (or just the reset, if terminated first).
    (stalled.ws as unknown as { _socket: { resume(): void } })._socket.resume();
    expect([CloseCode.slowConsumer, 1006]).toContain(await stalled.closed);

    for (const h of healthy) {
      expect(h.gaps).toBe(0);
      expect(h.ids).toEqual(Array.from({ length: 2 * FLOOD_EVENTS }, (_, i) => i));
    }
    // Generous bounds: the same flood took at most 3× the baseline (+1 s of slack for a loaded
    // machine), and the gateway did not hold anything like the flood in memory.
    expect(withStalledMs).toBeLessThan(3 * baselineMs + 1_000);
    expect(rssAfter - rssBefore).toBeLessThan(128 * 1024 * 1024);
    await Promise.all(healthy.map((h) => h.client.close()));
  }, 60_000);
});
