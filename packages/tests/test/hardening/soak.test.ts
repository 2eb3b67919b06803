/**
 * Memory soak, CI size (HARDENING row 16). The full run is `pnpm soak`
 * (10 000 cycles and more); its figures are in docs/hardening.md.
 */
import { describe, expect, it } from 'vitest';
import { runSoak } from '../../src/hardening/index.js';

const CYCLES = Number(process.env.LOOPGATE_SOAK_CYCLES ?? 1_600);

describe('row 16: memory soak', () => {
  it(`row 16: ${CYCLES} connect/subscribe/invoke/disconnect cycles with nodes and operators: no error, no lost event, listeners and connections back to baseline, gateway RSS and heap within 5 % of their post-warm-up size`, async () => {
    const result = await runSoak({
      cycles: CYCLES,
      // Half the run: the gateway's caches and JIT settle within ~800 cycles (heap flat after).
      warmupCycles: Math.floor(CYCLES / 2),
      lanes: 8,
    });
    const mib = (b: number) => (b / 1024 / 1024).toFixed(1);
    process.stdout.write(
      `[row 16] ${result.cycles} cycles in ${(result.durationMs / 1000).toFixed(1)} s: RSS ${mib(result.afterWarmup.rss)} → ${mib(result.end.rss)} MiB (${(result.rssGrowth * 100).toFixed(2)} %), heap ${mib(result.afterWarmup.heapUsed)} → ${mib(result.end.heapUsed)} MiB (${(result.heapGrowth * 100).toFixed(2)} %)\n`,
    );
    expect(result.errors).toEqual([]);
    expect(result.lostEvents).toBe(0);
    expect(result.invocations).toBe(result.cycles);
    expect(result.end.eventListeners).toBe(result.start.eventListeners);
    expect(result.end.connections).toBe(0);
    expect(result.rssGrowth).toBeLessThanOrEqual(0.05);
    // Retained memory after forced GCs: the leak signal RSS (allocator pages, reservations) blurs.
    expect(result.heapGrowth).toBeLessThanOrEqual(0.05);
  }, 180_000);
});
