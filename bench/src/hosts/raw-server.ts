import type { AddressInfo } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';
import { cpuMicros, serveParent, settledRss } from '../child.js';
import { rawFrame } from '../raw-frames.js';

/**
 * The raw-ws baseline server: the least a JSON request/response service on
 * `ws` can do. Each request is parsed for its id and answered with a frame of
 * exactly the size Loopgate's response had; subscribers get event frames of
 * exactly Loopgate's event frame size.
 *
 * With `BENCH_RELAY_TO` (another raw server's URL) it is instead the least a
 * relay can do, the shape of `nodes.invoke` with no processing: each request
 * goes upstream under the relay's own id, and the upstream's answer comes
 * back to the caller under the caller's id.
 */
let responseBytes = 64;
let eventBytes = 64;
const subscribers = new Set<WebSocket>();

const wss = new WebSocketServer({
  host: '127.0.0.1',
  port: 0,
  perMessageDeflate: false,
  clientTracking: true,
});
await new Promise<void>((resolve) => wss.once('listening', () => resolve()));

const relay = process.env.BENCH_RELAY_TO
  ? await openUpstream(process.env.BENCH_RELAY_TO)
  : undefined;

wss.on('connection', (socket) => {
  socket.on('message', (data, isBinary) => {
    if (isBinary) return;
    const msg = JSON.parse((data as Buffer).toString('utf8')) as { id: number; subscribe?: true };
    if (relay) {
      relay.forward(socket, msg.id, (data as Buffer).length);
      return;
    }
    if (msg.subscribe) {
      subscribers.add(socket);
      socket.send(rawFrame(msg.id, responseBytes));
      return;
    }
    socket.send(rawFrame(msg.id, responseBytes));
  });
  socket.once('close', () => subscribers.delete(socket));
});

/** The relay's one upstream socket: requests leave under a relay id, answers return under the caller's. */
async function openUpstream(url: string) {
  const upstream = new WebSocket(url, { perMessageDeflate: false });
  await new Promise<void>((resolve, reject) => {
    upstream.once('open', () => resolve());
    upstream.once('error', reject);
  });
  const waiting = new Map<number, { socket: WebSocket; id: number }>();
  let nextId = 1;
  upstream.on('message', (data) => {
    const { id } = JSON.parse((data as Buffer).toString('utf8')) as { id: number };
    const caller = waiting.get(id);
    if (!caller) return;
    waiting.delete(id);
    caller.socket.send(rawFrame(caller.id, responseBytes));
  });
  return {
    forward(socket: WebSocket, id: number, requestBytes: number): void {
      const relayId = nextId++;
      waiting.set(relayId, { socket, id });
      upstream.send(rawFrame(relayId, requestBytes));
    },
    close: () => upstream.terminate(),
  };
}

/** Same pacing as the gateway host: `chunk` events per macrotask. */
function emit(count: number, chunk: number): Promise<{ emitMs: number }> {
  const started = performance.now();
  let sent = 0;
  return new Promise((resolve) => {
    const step = () => {
      const end = Math.min(count, sent + chunk);
      for (; sent < end; sent++) {
        const frame = rawFrame(sent, eventBytes);
        for (const socket of subscribers) socket.send(frame);
      }
      if (sent < count) setImmediate(step);
      else resolve({ emitMs: performance.now() - started });
    };
    step();
  });
}

serveParent(
  {
    configure: (msg) => {
      responseBytes = msg.responseBytes as number;
      eventBytes = msg.eventBytes as number;
    },
    emit: (msg) => emit(msg.count as number, (msg.chunk as number | undefined) ?? 256),
    rss: () => ({ rss: settledRss() }),
    cpu: () => ({ cpuUs: cpuMicros() }),
    connections: () => ({ total: wss.clients.size }),
  },
  async () => {
    relay?.close();
    for (const socket of wss.clients) socket.terminate();
    await new Promise<void>((resolve) => wss.close(() => resolve()));
  },
);
process.send?.({
  type: 'ready',
  url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`,
  pid: process.pid,
});
