import type { SystemFigures } from './results.js';
import { LatencyRecorder, median } from './stats.js';

export type RoundPlan<S> = {
  systems: readonly S[];
  rounds: number;
  /** Unrecorded rounds first, so every system is JIT-warm before it counts. */
  warmupRounds: number;
  /** One measurement of one system; returns its throughput and may record latencies (timed rounds only). */
  measure(system: S, latency: LatencyRecorder | undefined, timed: boolean): Promise<number>;
  /** Record per-request latency (off for streams, where there is no request). */
  latency: boolean;
};

/**
 * Runs the systems round-robin (A B C, A B C, …) rather than all of A then
 * all of B, so drift on a shared machine (thermal, a noisy neighbour) lands
 * on every system alike and the ratio stays honest.
 */
export async function interleavedRounds<S>(plan: RoundPlan<S>): Promise<SystemFigures[]> {
  const throughputs = plan.systems.map(() => [] as number[]);
  const latencies = plan.systems.map(() => new LatencyRecorder());
  for (let round = 0; round < plan.warmupRounds + plan.rounds; round++) {
    const counts = round >= plan.warmupRounds;
    for (let i = 0; i < plan.systems.length; i++) {
      const recorder = counts && plan.latency ? latencies[i] : undefined;
      const value = await plan.measure(plan.systems[i]!, recorder, counts);
      if (counts) throughputs[i]!.push(value);
    }
  }
  return plan.systems.map((_, i) => {
    const figures: SystemFigures = {
      rounds: throughputs[i]!.map(Math.round),
      median: median(throughputs[i]!),
    };
    if (plan.latency) {
      const { p50, p99 } = latencies[i]!.summary();
      figures.p50Ms = round3(p50);
      figures.p99Ms = round3(p99);
    }
    return figures;
  });
}

function round3(value: number): number {
  return Math.round(value * 1000) / 1000;
}
