import type { GatewayClient } from '@loopgate/client';
import type WebSocket from 'ws';
import type { BenchChild } from '../child.js';
import type { BenchContext } from '../context.js';
import { type LoopgateTarget, openLoopgateClient } from '../drivers/loopgate.js';
import { closeSocket, openSocket } from '../drivers/raw.js';
import { type AbsoluteResult, absoluteResult } from '../results.js';

const CONNECTIONS = 1_000;
/** How long a server is left quiet before its idle RSS is read. */
const IDLE_WINDOW_MS = 12_000;

/**
 * The server's RSS right after a burst of work and once it has been quiet:
 * the lowest of one settled reading per second over `IDLE_WINDOW_MS`.
 * Opening connections in bursts grows V8's young generation (up to 2 × 16 MB
 * of semi-spaces, which a forced GC does not give back); V8's memory reducer
 * returns it after some seconds without allocation, which is the state a
 * server holding idle connections is in. Both figures are reported.
 */
async function idleRss(server: BenchChild): Promise<{ burst: number; idle: number }> {
  const burst = (await server.request('rss')).rss as number;
  let idle = burst;
  for (let waited = 0; waited < IDLE_WINDOW_MS; waited += 1_000) {
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    idle = Math.min(idle, (await server.request('rss')).rss as number);
  }
  return { burst, idle };
}
const OPEN_AT_ONCE = 50;

async function inBatches<T>(
  count: number,
  open: (i: number) => Promise<T>,
  atOnce = OPEN_AT_ONCE,
): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < count; i += atOnce) {
    out.push(
      ...(await Promise.all(
        Array.from({ length: Math.min(atOnce, count - i) }, (_, k) => open(i + k)),
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
  const { burst: gatewayBurst, idle: gatewayAfter } = await idleRss(gateway);
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
  const { idle: rawAfter } = await idleRss(rawServer);
  await Promise.all(sockets.map((ws) => closeSocket(ws)));

  const perConnection = (gatewayAfter - gatewayBefore) / CONNECTIONS;
  const burstPerConnectionKb = Math.round((gatewayBurst - gatewayBefore) / CONNECTIONS / 1024);
  const rawPerConnection = (rawAfter - rawBefore) / CONNECTIONS;
  return [
    absoluteResult({
      id: 'memory.idleSubscribedConnection',
      title: 'server RSS per idle authenticated connection with 1 subscription (1 000 connections)',
      unit: 'KB',
      value: Math.round(perConnection / 1024),
      target: 40,
      details: {
        connections: CONNECTIONS,
        operatorsSeenByGateway: counts.operators,
        gatewayRssBeforeMb: Math.round(gatewayBefore / 2 ** 20),
        gatewayRssAfterMb: Math.round(gatewayAfter / 2 ** 20),
        burstPerConnectionKb,
        rawWsPerConnectionKb: Math.round(rawPerConnection / 1024),
      },
      note: `RSS ${Math.round(gatewayBefore / 2 ** 20)} → ${Math.round(gatewayAfter / 2 ** 20)} MB after GC, quiet ${IDLE_WINDOW_MS / 1000} s (right after opening: ${burstPerConnectionKb} KB per connection); raw ws ${Math.round(rawPerConnection / 1024)} KB per connection`,
    }),
  ];
}

const IDLE_CONNECTIONS = 10_000;

/**
 * One idle operator as the gateway sees it: a socket that sent the real
 * client's `connectionParams` frame with the token and had one `health`
 * answered (so it is authenticated), then says nothing. Plain `ws` sockets
 * rather than 10 000 tRPC clients keep the bench process small; the frames
 * are the ones `@loopgate/client` sends.
 */
async function openIdleOperator(url: string, token: string): Promise<WebSocket> {
  // as the client dials: the query flag says a connectionParams frame comes first
  const ws = await openSocket(`${url}?connectionParams=1`);
  await new Promise<void>((resolve, reject) => {
    ws.once('message', (data) => {
      const answer = JSON.parse(String(data)) as { result?: unknown; error?: unknown };
      if (answer.result) resolve();
      else reject(new Error(`health refused: ${String(data).slice(0, 200)}`));
    });
    ws.once('close', (code, reason) => reject(new Error(`closed ${code} ${reason}`)));
    ws.send(
      JSON.stringify({
        method: 'connectionParams',
        data: { token, clientName: 'loopgate-bench' },
      }),
    );
    ws.send(
      JSON.stringify({
        id: 1,
        method: 'query',
        params: { path: 'health', input: { json: null, meta: { values: ['undefined'], v: 1 } } },
      }),
    );
  });
  ws.removeAllListeners('message');
  ws.removeAllListeners('close');
  return ws;
}

/**
 * 10 000 idle authenticated operator connections on one fresh gateway (limits
 * raised for it: the defaults allow 4 096 connections, 256 per address):
 * settled RSS per connection and the time to open them all, 200 dials at a
 * time.
 */
export async function idleOperatorsShape(ctx: BenchContext): Promise<AbsoluteResult[]> {
  const room = IDLE_CONNECTIONS + 100;
  const gateway = ctx.spawnGateway({ maxConnections: room, maxConnectionsPerAddress: room });
  const sockets: WebSocket[] = [];
  try {
    const ready = await gateway.ready;
    const url = ready.url as string;
    const before = (await gateway.request('rss')).rss as number;
    const started = performance.now();
    sockets.push(
      ...(await inBatches(IDLE_CONNECTIONS, () => openIdleOperator(url, ctx.target.token), 200)),
    );
    const connectMs = performance.now() - started;
    const counts = (await gateway.request('connections')) as { operators?: number };
    const { burst, idle: after } = await idleRss(gateway);
    if (counts.operators !== IDLE_CONNECTIONS) {
      throw new Error(`the gateway counts ${counts.operators} operators, not ${IDLE_CONNECTIONS}`);
    }
    const perConnectionKb = (after - before) / IDLE_CONNECTIONS / 1024;
    const details = {
      connections: IDLE_CONNECTIONS,
      gatewayRssBeforeMb: Math.round(before / 2 ** 20),
      gatewayRssAfterMb: Math.round(after / 2 ** 20),
      perConnectionKb: Math.round(perConnectionKb * 10) / 10,
      burstPerConnectionKb: Math.round(((burst - before) / IDLE_CONNECTIONS / 1024) * 10) / 10,
      connectAllMs: Math.round(connectMs),
    };
    return [
      absoluteResult({
        id: 'idle.operators10k.rss',
        title: 'gateway RSS with 10 000 idle authenticated operator connections',
        unit: 'MB',
        value: Math.round(after / 2 ** 20),
        details,
        note: `RSS ${details.gatewayRssBeforeMb} → ${details.gatewayRssAfterMb} MB after GC, quiet ${IDLE_WINDOW_MS / 1000} s: ${details.perConnectionKb} KB per connection (right after opening: ${details.burstPerConnectionKb} KB)`,
      }),
      absoluteResult({
        id: 'idle.operators10k.connect',
        title: 'opening 10 000 authenticated operator connections (200 at a time)',
        unit: 'ms',
        value: Math.round(connectMs),
        details,
        note: `${Math.round(IDLE_CONNECTIONS / (connectMs / 1000))} connections/s: upgrade, connectionParams, one health`,
      }),
    ];
  } finally {
    await Promise.all(sockets.map((ws) => closeSocket(ws)));
    await gateway.stop();
  }
}
