import { cpuMicros } from './child.js';
import type { Caller } from './drivers/driver.js';
import type { SystemFigures } from './results.js';
import { interleavedRounds } from './rounds.js';
import type { LatencyRecorder } from './stats.js';

/**
 * Keeps `depth` requests in flight on each caller for `durationMs` (each
 * worker issues its next request when the previous one is answered) and
 * returns completed requests per second. Depth 1 on one caller is the
 * sequential shape; depth 1 on 50 callers is the many-connections shape.
 */
export async function closedLoop(
  callers: readonly Caller[],
  depth: number,
  durationMs: number,
  latency?: LatencyRecorder,
): Promise<{ perSecond: number; completed: number }> {
  const started = performance.now();
  const deadline = started + durationMs;
  let completed = 0;
  const worker = async (caller: Caller) => {
    for (;;) {
      const t0 = performance.now();
      await caller.call();
      const t1 = performance.now();
      latency?.record(t1 - t0);
      completed++;
      if (t1 >= deadline) return;
    }
  };
  const workers: Promise<void>[] = [];
  for (const caller of callers) for (let i = 0; i < depth; i++) workers.push(worker(caller));
  await Promise.all(workers);
  return { perSecond: completed / ((performance.now() - started) / 1000), completed };
}

/** Awaits `fn` with a bound, so a stuck shape fails the bench instead of hanging it. */
export function within<T>(ms: number, what: string, fn: () => Promise<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
    fn().then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

/**
 * Server CPU per unit of work (request or delivered event), accumulated over
 * the timed rounds: a figure that, unlike throughput, barely moves when other
 * processes compete for the machine.
 */
export class ServerCpu {
  #cpuUs = 0;
  #clientCpuUs = 0;
  #work = 0;

  /** Runs `fn` (which returns how much work it did) between two CPU readings of `server`. */
  async around<T>(
    server: { request(op: string): Promise<{ cpuUs?: unknown }> },
    fn: () => Promise<{ work: number; value: T }>,
  ): Promise<T> {
    const before = (await server.request('cpu')).cpuUs as number;
    const clientBefore = cpuMicros();
    const { work, value } = await fn();
    this.#clientCpuUs += cpuMicros() - clientBefore;
    const after = (await server.request('cpu')).cpuUs as number;
    this.#cpuUs += after - before;
    this.#work += work;
    return value;
  }

  get perUnitUs(): number {
    return this.#work === 0 ? Number.NaN : Math.round((10 * this.#cpuUs) / this.#work) / 10;
  }

  /** The measuring client's CPU (this process) per unit of work, in µs. */
  get clientPerUnitUs(): number {
    return this.#work === 0 ? Number.NaN : Math.round((10 * this.#clientCpuUs) / this.#work) / 10;
  }
}

/** Each system's figures with the CPU per unit of work its `ServerCpu` accumulated. */
export function withCpu(figures: SystemFigures[], cpus: readonly ServerCpu[]): SystemFigures[] {
  return figures.map((f, i) => ({
    ...f,
    serverCpuUs: cpus[i]!.perUnitUs,
    clientCpuUs: cpus[i]!.clientPerUnitUs,
  }));
}

type CpuReporter = { request(op: string): Promise<{ cpuUs?: unknown }> };

/**
 * Unrecorded closed-loop time each system gets before the timed rounds.
 * A path through three processes keeps speeding up for thousands of calls
 * while V8 tiers its functions up (sequential `nodes.invoke` here: ~380
 * calls per 300 ms window at first, ~1 000 from about the eighth window
 * on); one warm-up round left the timed rounds climbing (1 752 → 3 195
 * calls/s across five rounds) and measured the JIT, not the gateway.
 */
const WARMUP_MS = 3_000;

/**
 * Interleaved rounds of `closedLoop` over each system's callers (`WARMUP_MS`
 * of warm-up rounds each, latency recorded), with server and client CPU per
 * request measured around the timed rounds.
 */
export async function closedLoopRounds(plan: {
  title: string;
  systems: readonly { callers: readonly Caller[]; server: CpuReporter }[];
  depth: number;
  rounds: number;
  roundMs: number;
}): Promise<SystemFigures[]> {
  const cpus = plan.systems.map(() => new ServerCpu());
  const figures = await interleavedRounds({
    systems: plan.systems.map((system, i) => ({ ...system, cpu: cpus[i]! })),
    rounds: plan.rounds,
    warmupRounds: Math.max(1, Math.ceil(WARMUP_MS / plan.roundMs)),
    latency: true,
    measure: (system, latency, timed) =>
      within(30_000, plan.title, async () => {
        const run = () => closedLoop(system.callers, plan.depth, plan.roundMs, latency);
        if (!timed) return (await run()).perSecond;
        return system.cpu.around(system.server, async () => {
          const { perSecond, completed } = await run();
          return { work: completed, value: perSecond };
        });
      }),
  });
  return withCpu(figures, cpus);
}
