import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createGateway } from '@loopgate/gateway';
import type { LoopgateConfigInput } from '@loopgate/protocol';
import { cpuMicros, serveParent, settledRss } from '../child.js';

/**
 * The gateway under test, in its own process: the real `createGateway` on a
 * free loopback port. The bench talks to it over the wire like any client;
 * over IPC it only asks for things no public procedure offers on purpose
 * (emit N events, report RSS), so the bench adds nothing to the API.
 */
const config = JSON.parse(process.env.BENCH_GATEWAY_CONFIG ?? '{}') as LoopgateConfigInput;
const stateDir = await mkdtemp(join(tmpdir(), 'loopgate-bench-'));
const gateway = createGateway(config, { stateDir });
await gateway.start();

let stopped = false;
async function stop(): Promise<void> {
  if (stopped) return;
  stopped = true;
  await gateway.stop('bench finished');
  await rm(stateDir, { recursive: true, force: true });
}

/**
 * Emits `count` durable events in chunks of `chunk` per macrotask, the way a
 * busy gateway emits them as work happens; the raw server paces its frames
 * the same way so neither side gets to build one giant write.
 */
function emit(count: number, chunk: number): Promise<{ emitMs: number }> {
  const started = performance.now();
  const events = gateway.services.events;
  let sent = 0;
  return new Promise((resolve) => {
    const step = () => {
      const end = Math.min(count, sent + chunk);
      for (; sent < end; sent++) {
        events.emit({
          type: 'channel.message',
          channel: 'bench',
          direction: 'inbound',
          peer: 'bench-peer',
          messageId: `m${sent}`,
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
    connections: () => ({
      ...gateway.services.connections.counts(),
      eventListeners: gateway.services.events.listenerCount,
    }),
  },
  stop,
);
process.send?.({ type: 'ready', url: gateway.url, port: gateway.port, pid: process.pid });
