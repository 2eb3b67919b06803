import type { GatewayClient } from '@loopgate/client';
import type { BenchChild } from '../child.js';
import type { BenchContext } from '../context.js';
import { type LoopgateTarget, openLoopgateClient } from '../drivers/loopgate.js';
import { closeSocket, openSocket } from '../drivers/raw.js';
import { type AbsoluteResult, absoluteResult } from '../results.js';

const CONNECTIONS = 1_000;
const OPEN_AT_ONCE = 50;

async function inBatches<T>(count: number, open: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < count; i += OPEN_AT_ONCE) {
    out.push(
      ...(await Promise.all(
        Array.from({ length: Math.min(OPEN_AT_ONCE, count - i) }, (_, k) => open(i + k)),
      )),
    );
  }
  return out;
}

/**
 * Server RSS per idle authenticated connection holding one `events`
 * subscription: settled RSS (after a full GC in the server) before and after
 * 1 000 such connections, divided by 1 000. The subscriptions filter on
 * `node.` so that 1 000 `connection.opened` events are not fanned out to
 * every earlier subscriber while the connections are being opened — they
 * are idle subscriptions either way. The raw-ws figure (idle sockets that
 * asked for a stream) is the floor `ws` itself costs.
 */
export async function memoryShapes(ctx: BenchContext): Promise<AbsoluteResult[]> {
  // Fresh processes: a gateway that already ran the throughput shapes has a
  // grown heap whose free pages would absorb the new connections unseen.
  const gateway = ctx.spawnGateway();
  const rawServer = ctx.spawnRawServer();
  try {
    const [gatewayReady, rawReady] = await Promise.all([gateway.ready, rawServer.ready]);
    return await measureMemory(
      gateway,
      { url: gatewayReady.url as string, token: ctx.target.token },
      rawServer,
      rawReady.url as string,
    );
  } finally {
    await Promise.all([gateway.stop(), rawServer.stop()]);
  }
}

async function measureMemory(
  gateway: BenchChild,
  target: LoopgateTarget,
  rawServer: BenchChild,
  rawUrl: string,
): Promise<AbsoluteResult[]> {
  const gatewayBefore = (await gateway.request('rss')).rss as number;
  const clients = await inBatches(CONNECTIONS, async (): Promise<GatewayClient> => {
    const client = openLoopgateClient(target);
    await new Promise<void>((resolve, reject) => {
      client.events.subscribe(
        { types: ['node.'] },
        { onStarted: () => resolve(), onError: reject },
      );
    });
    return client;
  });
  const counts = (await gateway.request('connections')) as { operators?: number };
  const gatewayAfter = (await gateway.request('rss')).rss as number;
  await Promise.all(clients.map((c) => c.close()));

  const rawBefore = (await rawServer.request('rss')).rss as number;
  const sockets = await inBatches(CONNECTIONS, async () => {
    const ws = await openSocket(rawUrl);
    await new Promise<void>((resolve) => {
      ws.once('message', () => resolve());
      ws.send(JSON.stringify({ id: 0, subscribe: true }));
    });
    return ws;
  });
  const rawAfter = (await rawServer.request('rss')).rss as number;
  await Promise.all(sockets.map((ws) => closeSocket(ws)));

  const perConnection = (gatewayAfter - gatewayBefore) / CONNECTIONS;
  const rawPerConnection = (rawAfter - rawBefore) / CONNECTIONS;
  return [
    absoluteResult({
      id: 'memory.idleSubscribedConnection',
      title: 'server RSS per idle authenticated connection with 1 subscription (1 000 connections)',
      unit: 'KB',
      value: Math.round(perConnection / 1024),
      target: 64,
      details: {
        connections: CONNECTIONS,
        operatorsSeenByGateway: counts.operators,
        gatewayRssBeforeMb: Math.round(gatewayBefore / 2 ** 20),
        gatewayRssAfterMb: Math.round(gatewayAfter / 2 ** 20),
        rawWsPerConnectionKb: Math.round(rawPerConnection / 1024),
      },
      note: `RSS ${Math.round(gatewayBefore / 2 ** 20)} → ${Math.round(gatewayAfter / 2 ** 20)} MB after GC; raw ws ${Math.round(rawPerConnection / 1024)} KB per connection`,
    }),
  ];
}
