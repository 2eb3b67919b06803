import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { createGatewayClient } from '@loopgate/client';
import { createNode, type LoopgateNode } from '@loopgate/node';
import { makeTempDir } from '../gateway-harness.js';
import {
  type GatewayMemorySample,
  type GatewayProcess,
  startGatewayProcess,
} from './gateway-process.js';

export type SoakOptions = {
  /** Cycles to run (each: a node and an operator connect, subscribe, invoke, disconnect). */
  cycles: number;
  /** Keep cycling until this much time has passed, even after `cycles` (the `--minutes` mode). */
  minDurationMs?: number;
  /** Cycles run side by side. */
  lanes?: number;
  /** Cycles before the baseline sample (caches, JIT, pools settle). */
  warmupCycles?: number;
  /** Samples taken along the way (besides baseline and end), for the report. */
  samples?: number;
  /** gateway.nodes.idempotencyWindowMs of the gateway under test (default `SOAK_IDEMPOTENCY_WINDOW_MS`). */
  idempotencyWindowMs?: number;
  log?: (line: string) => void;
};

export type SoakResult = {
  cycles: number;
  durationMs: number;
  start: GatewayMemorySample;
  afterWarmup: GatewayMemorySample;
  end: GatewayMemorySample;
  /** Relative RSS growth from the post-warm-up baseline to the end. */
  rssGrowth: number;
  heapGrowth: number;
  along: { cycle: number; rssMiB: number; heapMiB: number }[];
  errors: string[];
  lostEvents: number;
  invocations: number;
};

const EVENT_WAIT_MS = 5_000;

/**
 * Every cycle's invocation carries its own idempotency key, and the gateway
 * remembers outcomes for `idempotencyWindowMs` (10 minutes, at most 10 000
 * of them; idempotency.test.ts proves that bound). With that window the
 * remembered outcomes grow by ~0.5 KiB per cycle for the first 10 000 cycles
 * — more than a soak runs in CI — and that bounded fill would read as a leak
 * (or hide one). A one-second window reaches its steady state within the
 * warm-up, so what grows after it is what the gateway fails to give back.
 */
export const SOAK_IDEMPOTENCY_WINDOW_MS = 1_000;

/**
 * The memory soak (HARDENING row 16): a real gateway process, and `lanes`
 * loops that each run connect → subscribe → invoke → disconnect cycles with
 * a real node (the node SDK, paired once, reconnecting every cycle) and a
 * typed operator client. Every invocation's `node.invoke.finished` event
 * must reach the operator's subscription. Memory is sampled in the gateway
 * process after forced GCs.
 */
export async function runSoak(options: SoakOptions): Promise<SoakResult> {
  const log = options.log ?? (() => {});
  const lanes = options.lanes ?? 8;
  const warmup = options.warmupCycles ?? Math.min(1_000, Math.floor(options.cycles / 10));
  const root = await makeTempDir('loopgate-soak-');
  const gateway: GatewayProcess = await startGatewayProcess({
    // V8 grows the young generation with the allocation rate, from 1 MiB
    // semi-spaces up to 16: ~30 MiB of RSS that arrives when the machine's
    // load says so. A CI run that sampled before it grew read +31 % RSS with
    // the heap after GC flat (+1.5 %). At its full size from the start, RSS
    // growth is what the gateway kept.
    nodeArgs: ['--min-semi-space-size=16'],
    stateDir: join(root, 'gateway'),
    config: {
      gateway: {
        nodes: {
          autoApproveLoopback: true,
          idempotencyWindowMs: options.idempotencyWindowMs ?? SOAK_IDEMPOTENCY_WINDOW_MS,
        },
      },
    },
  });
  const errors: string[] = [];
  let lostEvents = 0;
  let invocations = 0;
  let done = 0;
  let started = 0;
  const startedAt = Date.now();
  const along: SoakResult['along'] = [];
  const sampleEvery = Math.max(1, Math.floor(options.cycles / (options.samples ?? 10)));
  let sampling: Promise<void> = Promise.resolve();

  /** Runs cycles on every lane until `until()` says stop; memory samples along the way are taken live. */
  const phase = async (until: () => boolean) => {
    const lane = async (index: number) => {
      const stateDir = join(root, `node-${index}`);
      while (until()) {
        const cycle = ++started;
        try {
          await runCycle(gateway, stateDir, `soak-${index}`, cycle);
          invocations++;
        } catch (error) {
          const message = error instanceof Error ? error.message : String(error);
          if (message.startsWith('lost event')) lostEvents++;
          else errors.push(`cycle ${cycle}: ${message}`);
          if (errors.length + lostEvents > 20)
            throw new Error(
              `giving up after ${errors.length} errors and ${lostEvents} lost events`,
            );
        }
        done++;
        if (done % sampleEvery === 0) {
          const at = done;
          sampling = sampling.then(async () => {
            const m = await gateway.memory();
            along.push({ cycle: at, rssMiB: mib(m.rss), heapMiB: mib(m.heapUsed) });
            log(
              `${at} cycles: RSS ${mib(m.rss)} MiB, heap ${mib(m.heapUsed)} MiB, listeners ${m.eventListeners}, connections ${m.connections}`,
            );
          });
        }
      }
    };
    await Promise.all(Array.from({ length: lanes }, (_, i) => lane(i)));
    await sampling;
  };

  /**
   * A sample with nothing in flight (every lane has finished its cycle and
   * the sockets are gone), as the least of five taken 100 ms apart: RSS
   * after a GC still wobbles by a few MiB as the allocator hands pages back.
   */
  const quiescentSample = async (baseline?: GatewayMemorySample): Promise<GatewayMemorySample> => {
    let m = await gateway.memory();
    const busy = () =>
      m.connections > 0 || (baseline !== undefined && m.eventListeners > baseline.eventListeners);
    for (let i = 0; i < 50 && busy(); i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      m = await gateway.memory();
    }
    for (let i = 0; i < 4; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      const next = await gateway.memory();
      m = {
        ...next,
        rss: Math.min(m.rss, next.rss),
        heapUsed: Math.min(m.heapUsed, next.heapUsed),
      };
    }
    return m;
  };

  try {
    const start = await gateway.memory();
    await phase(() => started < warmup);
    const afterWarmup = await quiescentSample(start);
    log(
      `warm-up done after ${done} cycles: gateway RSS ${mib(afterWarmup.rss)} MiB, heap ${mib(afterWarmup.heapUsed)} MiB`,
    );
    await phase(
      () => started < options.cycles || Date.now() - startedAt < (options.minDurationMs ?? 0),
    );
    const end = await quiescentSample(start);
    return {
      cycles: done,
      durationMs: Date.now() - startedAt,
      start,
      afterWarmup,
      end,
      rssGrowth: (end.rss - afterWarmup.rss) / afterWarmup.rss,
      heapGrowth: (end.heapUsed - afterWarmup.heapUsed) / afterWarmup.heapUsed,
      along,
      errors,
      lostEvents,
      invocations,
    };
  } finally {
    await gateway.stop();
    await rm(root, { recursive: true, force: true });
  }
}

async function runCycle(
  gateway: GatewayProcess,
  stateDir: string,
  name: string,
  cycle: number,
): Promise<void> {
  const node: LoopgateNode = createNode({
    name,
    url: gateway.url,
    stateDir,
    commands: { 'soak.echo': (params: unknown) => params },
  });
  const operator = createGatewayClient({
    url: gateway.url,
    token: gateway.token,
    retry: false,
    clientName: 'soak',
  });
  try {
    await node.start();
    const nodeId = node.nodeId as string;
    // Subscribe first, so the invocation's event must come through this subscription.
    const finished = new Set<string>();
    let notify: (() => void) | undefined;
    let subscriptionError: Error | undefined;
    let unsubscribe = () => {};
    const started = new Promise<void>((resolve, reject) => {
      const subscription = operator.events.subscribe(
        { types: ['node.invoke.finished'] },
        {
          onStarted: resolve,
          onData: (envelope) => {
            if (envelope.data.type === 'node.invoke.finished')
              finished.add(envelope.data.invocationId);
            notify?.();
          },
          onError: (error) => {
            subscriptionError = error;
            reject(error);
          },
        },
      );
      unsubscribe = () => subscription.unsubscribe();
    });
    await started;
    const answer = await operator.nodes.invoke.mutate({
      nodeId,
      command: 'soak.echo',
      params: { cycle },
      idempotencyKey: `soak-${cycle}`,
    });
    if ((answer.payload as { cycle?: number } | undefined)?.cycle !== cycle) {
      throw new Error(`wrong payload ${JSON.stringify(answer.payload)}`);
    }
    if (!finished.has(answer.invocationId)) {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`lost event: node.invoke.finished for ${answer.invocationId}`)),
          EVENT_WAIT_MS,
        );
        notify = () => {
          if (finished.has(answer.invocationId)) {
            clearTimeout(timer);
            resolve();
          }
        };
      });
    }
    if (subscriptionError) throw subscriptionError;
    unsubscribe();
  } finally {
    await operator.close();
    await node.stop();
  }
}

function mib(bytes: number): number {
  return Math.round((bytes / 1024 / 1024) * 10) / 10;
}
