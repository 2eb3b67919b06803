import type { GatewayClient } from '@loopgate/client';
import { hostEntry } from '../build-hosts.js';
import { BenchChild } from '../child.js';
import type { BenchContext } from '../context.js';
import type { Caller } from '../drivers/driver.js';
import { FrameSizeProbe, openLoopgateClient } from '../drivers/loopgate.js';
import { rawSystem } from '../drivers/raw.js';
import { closedLoopRounds, within } from '../measure.js';
import {
  type AbsoluteResult,
  absoluteResult,
  ratioResult,
  type ShapeResult,
  type SystemFigures,
} from '../results.js';

const PARAMS = { text: 'ping', n: 1 };
let keys = 0;

/** A fresh idempotency key per call: every invocation really runs on the node. */
function invoke(client: GatewayClient, nodeId: string): Promise<unknown> {
  return client.nodes.invoke.mutate({
    nodeId,
    command: 'bench.echo',
    params: PARAMS,
    idempotencyKey: `bench-${process.pid}-${keys++}`,
  });
}

/** Starts a node process hosting `count` nodes and waits until all are online. */
async function startNodes(
  ctx: BenchContext,
  count: number,
  prefix: string,
): Promise<{ host: BenchChild; nodeIds: string[]; startMs: number }> {
  const host = new BenchChild(hostEntry('node-host'), {
    env: {
      BENCH_GATEWAY_URL: ctx.target.url,
      BENCH_NODE_COUNT: String(count),
      BENCH_NODE_PREFIX: prefix,
    },
    readyTimeoutMs: 120_000,
  });
  // a fleet takes seconds to come up: say how far it got, so a stall shows where it stalls
  const progress = setInterval(() => {
    void Promise.all([host.request('status', {}, 5_000), ctx.gateway.request('connections')])
      .then(([nodes, gateway]) =>
        ctx.log(
          `  ${nodes.online} of ${count} nodes online (the gateway counts ${JSON.stringify(gateway)})`,
        ),
      )
      .catch(() => {});
  }, 10_000);
  const ready = await host.ready
    .catch(async (error: unknown) => {
      await host.stop();
      throw error;
    })
    .finally(() => clearInterval(progress));
  return { host, nodeIds: ready.nodeIds as string[], startMs: ready.startMs as number };
}

/**
 * `nodes.invoke` round trips (operator → gateway → node process → gateway →
 * operator), sequential and 64 in flight. The raw baseline is one raw-ws hop
 * with the operator's frame sizes, as PERFORMANCE.md defines the target
 * (a fraction of raw sequential), so the ratio also prices the extra hop.
 */
export async function nodeInvokeShapes(ctx: BenchContext): Promise<ShapeResult[]> {
  const { host, nodeIds } = await startNodes(ctx, 1, `bench-invoke-${process.pid}`);
  const nodeId = nodeIds[0]!;
  let relay: Awaited<ReturnType<typeof startRawRelay>> | undefined;
  try {
    const probe = new FrameSizeProbe();
    const probeClient = openLoopgateClient(ctx.target, probe.createSocket);
    for (let i = 0; i < 50; i++) await invoke(probeClient, nodeId);
    probe.reset();
    for (let i = 0; i < 200; i++) await invoke(probeClient, nodeId);
    const sizes = probe.sizes();
    await probeClient.close();
    await ctx.rawServer.request('configure', {
      responseBytes: sizes.receivedBytes,
      eventBytes: sizes.receivedBytes,
    });
    ctx.log(
      `  Loopgate nodes.invoke frames: request ${sizes.sentBytes} B, response ${sizes.receivedBytes} B`,
    );

    relay = await startRawRelay(ctx, sizes);
    const operator = openLoopgateClient(ctx.target);
    const loopgate: Caller = {
      call: () => invoke(operator, nodeId),
      close: () => operator.close(),
    };
    const raw = await rawSystem(ctx.rawUrl, () => ({ requestBytes: sizes.sentBytes })).connect();
    const systems = [
      { callers: [loopgate], server: ctx.gateway },
      { callers: [raw], server: ctx.rawServer },
      { callers: [relay.caller], server: relay.server },
    ];
    const plans = [
      {
        id: 'invoke.sequential',
        title: 'nodes.invoke via a node process, sequential',
        depth: 1,
        floor: 0.28,
        goal: 0.4,
      },
      {
        id: 'invoke.inflight64',
        title: 'nodes.invoke via a node process, 64 in flight',
        depth: 64,
        floor: 0.3,
        goal: 0.5,
      },
    ];
    const results: ShapeResult[] = [];
    for (const plan of plans) {
      ctx.log(`  ${plan.title}`);
      const [lg, rw, rl] = await closedLoopRounds({
        title: plan.title,
        systems,
        depth: plan.depth,
        rounds: ctx.rounds,
        roundMs: ctx.roundMs,
      });
      results.push(
        ratioResult({
          id: plan.id,
          title: plan.title,
          unit: 'calls/s',
          frameBytes: { request: sizes.sentBytes, response: sizes.receivedBytes },
          loopgate: lg!,
          raw: rw!,
          floor: plan.floor,
          goal: plan.goal,
          note: 'raw = one ws hop with the same frame sizes; Loopgate CPU column is the gateway only (the node process is not counted)',
        }),
      );
      results.push(relayCeiling(plan, rl!, rw!));
      if (plan.depth === 1) results.push(tailLatency(lg!));
    }
    await Promise.all([loopgate.close(), raw.close(), relay.caller.close()]);
    return results;
  } finally {
    await Promise.all([host.stop(), relay?.stop()]);
  }
}

/**
 * The invoke shape with nothing in it: a raw relay and a raw echo server,
 * each in its own process, with Loopgate's frame sizes. Its ratio to raw is
 * the ceiling of the invoke rows on this machine.
 */
async function startRawRelay(
  ctx: BenchContext,
  sizes: { sentBytes: number; receivedBytes: number },
): Promise<{ caller: Caller; server: BenchChild; stop(): Promise<void> }> {
  const echo = ctx.spawnRawServer();
  const echoUrl = (await echo.ready).url as string;
  const server = ctx.spawnRawServer(echoUrl);
  const relayUrl = (await server.ready).url as string;
  const stop = async () => {
    await Promise.all([server.stop(), echo.stop()]);
  };
  const configure = { responseBytes: sizes.receivedBytes, eventBytes: sizes.receivedBytes };
  await Promise.all([echo.request('configure', configure), server.request('configure', configure)]);
  const caller = await rawSystem(relayUrl, () => ({ requestBytes: sizes.sentBytes })).connect();
  return { caller, server, stop };
}

function relayCeiling(
  plan: { id: string; title: string },
  relay: SystemFigures,
  raw: SystemFigures,
): AbsoluteResult {
  return absoluteResult({
    id: `${plan.id}.rawRelay`,
    title: `${plan.title}: a raw ws relay in Loopgate's place / raw`,
    unit: '× raw',
    value: relay.median / raw.median,
    details: {
      relayPerSecond: relay.median,
      rawPerSecond: raw.median,
      relayP50Ms: relay.p50Ms,
      relayP99Ms: relay.p99Ms,
    },
    note: `client → relay → echo server → relay → client, each a raw ws process with these frame sizes: ${relay.median.toFixed(0)} calls/s, p50 ${relay.p50Ms} / p99 ${relay.p99Ms} ms; the ceiling of this row here`,
  });
}

/** Sequential invoke's tail: p99 at most 4 × p50 over every call of the timed rounds. */
function tailLatency(figures: SystemFigures): AbsoluteResult {
  const p50 = figures.p50Ms ?? Number.NaN;
  const p99 = figures.p99Ms ?? Number.NaN;
  return absoluteResult({
    id: 'invoke.sequentialTail',
    title: 'nodes.invoke via a node process, sequential: p99 / p50',
    unit: '× p50',
    value: p99 / p50,
    target: 4,
    details: { p50Ms: p50, p99Ms: p99 },
    note: `p50 ${p50} ms, p99 ${p99} ms over every call of the timed rounds`,
  });
}

/** 1 000 nodes online at once (one node process), invoked round-robin, 64 in flight: errors must be 0. */
export async function thousandNodesShape(
  ctx: BenchContext,
  NODE_COUNT = 1_000,
): Promise<AbsoluteResult[]> {
  const INVOCATIONS = 3 * NODE_COUNT;
  const rssBefore = (await ctx.gateway.request('rss')).rss as number;
  const { host, nodeIds, startMs } = await startNodes(
    ctx,
    NODE_COUNT,
    `bench-fleet-${process.pid}`,
  );
  try {
    const counts = (await ctx.gateway.request('connections')) as { nodes?: number };
    const rssWithNodes = (await ctx.gateway.request('rss')).rss as number;
    const operator = openLoopgateClient(ctx.target);
    let next = 0;
    let errors = 0;
    const firstErrors: string[] = [];
    const started = performance.now();
    await within(120_000, '1 000-node round robin', () =>
      Promise.all(
        Array.from({ length: 64 }, async () => {
          while (next < INVOCATIONS) {
            const i = next++;
            try {
              await invoke(operator, nodeIds[i % NODE_COUNT]!);
            } catch (error) {
              errors++;
              if (firstErrors.length < 3)
                firstErrors.push(error instanceof Error ? error.message : String(error));
            }
          }
        }),
      ),
    );
    const elapsed = performance.now() - started;
    await operator.close();
    const online = (await host.request('status')) as { online?: number; failures?: number };
    return [
      absoluteResult({
        id: 'nodes.fleet1000',
        title: `${NODE_COUNT} connected nodes invoked round-robin (${INVOCATIONS} calls, 64 in flight): errors`,
        unit: 'errors',
        value: errors + (NODE_COUNT - (online.online ?? 0)),
        target: 0,
        details: {
          nodesOnlineAtGateway: counts.nodes,
          nodesOnlineAtEnd: online.online,
          nodeStatusFailures: online.failures,
          pairAndConnectAllMs: startMs,
          callsPerSecond: Math.round(INVOCATIONS / (elapsed / 1000)),
          gatewayRssPerNodeKb: Math.round((rssWithNodes - rssBefore) / NODE_COUNT / 1024),
          firstErrors,
        },
        note: `${counts.nodes ?? '?'} nodes online; ${Math.round(INVOCATIONS / (elapsed / 1000))} calls/s; pairing + connecting all took ${(startMs / 1000).toFixed(1)} s`,
      }),
    ];
  } finally {
    await host.stop();
  }
}
