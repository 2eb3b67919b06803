import { EventEmitter, on } from 'node:events';
import type { AddressInfo } from 'node:net';
import { initTRPC, tracked } from '@trpc/server';
import { applyWSSHandler } from '@trpc/server/adapters/ws';
import superjson from 'superjson';
import { WebSocketServer } from 'ws';
import { cpuMicros, serveParent, settledRss } from '../child.js';

/**
 * The reference column: tRPC 11 exactly as its docs set it up
 * (`applyWSSHandler`, superjson), serving a `health` of the same shape as
 * Loopgate's and an event stream of the same events. It shows where the
 * stock stack stands on this machine in this run.
 */
const startedAt = Date.now();
const bus = new EventEmitter();
bus.setMaxListeners(0);
let seq = 0;

const t = initTRPC.create({ transformer: superjson });
const appRouter = t.router({
  health: t.procedure.query(() => ({
    ok: true,
    version: '0.1.0',
    uptimeMs: Date.now() - startedAt,
    eventLoopDelayMs: 0,
    connections: { operators: wss.clients.size, nodes: 0, total: wss.clients.size },
    checkDurationMs: 0.001,
  })),
  events: t.procedure.subscription(async function* ({ signal }) {
    for await (const [id, event] of on(bus, 'event', { signal })) yield tracked(String(id), event);
  }),
});

const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
const handler = applyWSSHandler({ wss, router: appRouter, createContext: () => ({}) });

function emit(count: number, chunk: number): Promise<{ emitMs: number }> {
  const started = performance.now();
  let sent = 0;
  return new Promise((resolve) => {
    const step = () => {
      const end = Math.min(count, sent + chunk);
      for (; sent < end; sent++) {
        bus.emit('event', ++seq, {
          type: 'channel.message',
          channel: 'bench',
          direction: 'inbound',
          peer: 'bench-peer',
          messageId: `m${sent}`,
          ts: Date.now(),
        });
      }
      if (sent < count) setImmediate(step);
      else resolve({ emitMs: performance.now() - started });
    };
    step();
  });
}

serveParent(
  {
    emit: (msg) => emit(msg.count as number, (msg.chunk as number | undefined) ?? 256),
    rss: () => ({ rss: settledRss() }),
    cpu: () => ({ cpuUs: cpuMicros() }),
  },
  async () => {
    handler.broadcastReconnectNotification();
    for (const socket of wss.clients) socket.terminate();
    await new Promise<void>((resolve) => wss.close(() => resolve()));
  },
);
process.send?.({
  type: 'ready',
  url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`,
  pid: process.pid,
});
