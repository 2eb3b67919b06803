import type { BenchChild } from '../child.js';
import type { BenchContext } from '../context.js';
import type { Caller, Subscriber, System } from '../drivers/driver.js';
import { EventCounter } from '../drivers/driver.js';
import {
  FrameSizeProbe,
  loopgateSystem,
  openLoopgateClient,
  subscribeEvents,
} from '../drivers/loopgate.js';
import { rawSystem } from '../drivers/raw.js';
import { stockTrpcSystem } from '../drivers/stock-trpc.js';
import { closedLoopRounds, ServerCpu, withCpu } from '../measure.js';
import { type RatioResult, ratioResult } from '../results.js';
import { interleavedRounds } from '../rounds.js';

export type OperatorFrameSizes = { healthRequest: number; healthResponse: number; event: number };

/**
 * Sizes of Loopgate's own frames for `health` and for one `events` item,
 * measured on the wire with the real client, so the raw baseline can
 * exchange frames of exactly those sizes.
 */
export async function measureOperatorFrames(ctx: BenchContext): Promise<OperatorFrameSizes> {
  const probe = new FrameSizeProbe();
  const client = openLoopgateClient(ctx.target, probe.createSocket);
  for (let i = 0; i < 50; i++) await client.health.query(undefined);
  probe.reset();
  for (let i = 0; i < 200; i++) await client.health.query(undefined);
  const health = probe.sizes();

  const counter = new EventCounter();
  const subscription = await subscribeEvents(client, counter);
  probe.reset();
  await ctx.gateway.request('emit', { count: 200 });
  await counter.waitFor(200, 10_000);
  const events = probe.sizes();
  subscription.unsubscribe();
  await client.close();
  return {
    healthRequest: health.sentBytes,
    healthResponse: health.receivedBytes,
    event: events.receivedBytes,
  };
}

type Served = { system: System; server: BenchChild };

function operatorSystems(ctx: BenchContext, sizes: OperatorFrameSizes): Served[] {
  return [
    { system: loopgateSystem(ctx.target), server: ctx.gateway },
    {
      system: rawSystem(ctx.rawUrl, () => ({ requestBytes: sizes.healthRequest })),
      server: ctx.rawServer,
    },
    { system: stockTrpcSystem(ctx.stockUrl), server: ctx.stockServer },
  ];
}

/** `health` sequentially, 64 in flight, and over 50 connections. */
export async function healthShapes(
  ctx: BenchContext,
  sizes: OperatorFrameSizes,
): Promise<RatioResult[]> {
  await ctx.rawServer.request('configure', {
    responseBytes: sizes.healthResponse,
    eventBytes: sizes.event,
  });
  const systems = operatorSystems(ctx, sizes);
  const frameBytes = { request: sizes.healthRequest, response: sizes.healthResponse };
  const results: RatioResult[] = [];

  const plans = [
    {
      id: 'health.sequential',
      title: 'health, 1 connection, sequential',
      connections: 1,
      depth: 1,
      floor: 0.7,
      goal: 0.9,
    },
    {
      id: 'health.inflight64',
      title: 'health, 1 connection, 64 in flight',
      connections: 1,
      depth: 64,
      floor: 0.85,
      goal: 1,
    },
    {
      id: 'health.connections50',
      title: 'health, 50 connections × 1 in flight',
      connections: 50,
      depth: 1,
      floor: 0.6,
      goal: 0.8,
    },
  ];
  for (const plan of plans) {
    ctx.log(`  ${plan.title}`);
    const groups: { server: BenchChild; callers: Caller[] }[] = [];
    for (const { system, server } of systems) {
      const callers: Caller[] = [];
      for (let i = 0; i < plan.connections; i++) callers.push(await system.connect());
      groups.push({ server, callers });
    }
    const [loopgate, raw, stock] = await closedLoopRounds({
      title: plan.title,
      systems: groups,
      depth: plan.depth,
      rounds: ctx.rounds,
      roundMs: ctx.roundMs,
    });
    await Promise.all(groups.flatMap((g) => g.callers.map((c) => c.close())));
    results.push(
      ratioResult({
        id: plan.id,
        title: plan.title,
        unit: 'req/s',
        frameBytes,
        loopgate: loopgate!,
        raw: raw!,
        stock: stock!,
        floor: plan.floor,
        goal: plan.goal,
      }),
    );
  }
  return results;
}

/**
 * The event stream: the server emits `count` events (in chunks, per
 * macrotask) and the round lasts until every subscriber has all of them.
 */
export async function eventShapes(
  ctx: BenchContext,
  sizes: OperatorFrameSizes,
): Promise<RatioResult[]> {
  await ctx.rawServer.request('configure', {
    responseBytes: sizes.healthResponse,
    eventBytes: sizes.event,
  });
  const servers = operatorSystems(ctx, sizes);
  const results: RatioResult[] = [];
  const plans = [
    {
      id: 'events.subscribers1',
      title: 'events stream, 1 subscriber',
      subscribers: 1,
      count: 20_000,
      floor: 0.65,
      goal: 0.85,
    },
    {
      id: 'events.subscribers10',
      title: 'events stream, 10 subscribers',
      subscribers: 10,
      count: 5_000,
    },
  ];
  for (const plan of plans) {
    ctx.log(`  ${plan.title}`);
    const groups: { server: BenchChild; subscribers: Subscriber[]; cpu: ServerCpu }[] = [];
    for (const { system, server } of servers) {
      const subscribers: Subscriber[] = [];
      for (let i = 0; i < plan.subscribers; i++) subscribers.push(await system.subscribe());
      groups.push({ server, subscribers, cpu: new ServerCpu() });
    }
    const figures = await interleavedRounds({
      systems: groups,
      rounds: ctx.rounds,
      warmupRounds: 1,
      latency: false,
      measure: ({ server, subscribers, cpu }) =>
        cpu.around(server, async () => {
          const targets = subscribers.map((s) => s.received + plan.count);
          const started = performance.now();
          await server.request('emit', { count: plan.count });
          await Promise.all(subscribers.map((s, i) => s.waitFor(targets[i]!, 60_000)));
          const delivered = plan.count * subscribers.length;
          return { work: delivered, value: delivered / ((performance.now() - started) / 1000) };
        }),
    });
    await Promise.all(groups.flatMap((g) => g.subscribers.map((s) => s.close())));
    const [loopgate, raw, stock] = withCpu(
      figures,
      groups.map((g) => g.cpu),
    );
    results.push(
      ratioResult({
        id: plan.id,
        title: plan.title,
        unit: 'events/s',
        frameBytes: { event: sizes.event },
        loopgate: loopgate!,
        raw: raw!,
        stock: stock!,
        ...(plan.floor !== undefined ? { floor: plan.floor, goal: plan.goal } : {}),
      }),
    );
  }
  return results;
}
