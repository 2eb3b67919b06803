/**
 * Memory soak (HARDENING row 16): connect → subscribe → invoke → disconnect
 * cycles with real nodes and operators against a gateway process; reports
 * the gateway's RSS and heap at start, after warm-up and at the end, its
 * event listeners and connections, errors and lost events. Fails on more
 * than 5 % RSS or heap growth after warm-up, any error, or any lost event.
 * The gateway's idempotency window is one second (SOAK_IDEMPOTENCY_WINDOW_MS)
 * so that its bounded fill is over by the end of the warm-up.
 *
 *   pnpm soak                 10 000 cycles
 *   pnpm soak --minutes 30    at least 10 000 cycles, and keep going for 30 minutes
 *   --cycles N, --lanes N (cycles side by side), --warmup N (cycles before the baseline)
 */
import { parseArgs } from 'node:util';
import { runSoak } from '../../packages/tests/src/hardening/index.js';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string' },
    cycles: { type: 'string', default: '10000' },
    lanes: { type: 'string', default: '8' },
    warmup: { type: 'string' },
  },
});
const cycles = Number(values.cycles);
const minutes = values.minutes === undefined ? 0 : Number(values.minutes);
const result = await runSoak({
  cycles,
  minDurationMs: minutes * 60_000,
  lanes: Number(values.lanes),
  ...(values.warmup ? { warmupCycles: Number(values.warmup) } : {}),
  log: (line) => process.stderr.write(`${line}\n`),
});
const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
const pct = (x: number) => `${x >= 0 ? '+' : ''}${(x * 100).toFixed(2)} %`;
process.stdout.write(
  [
    `memory soak: ${result.cycles} cycles in ${(result.durationMs / 1000).toFixed(1)} s (${result.invocations} invocations)`,
    `  gateway RSS   start ${mib(result.start.rss)}, after warm-up ${mib(result.afterWarmup.rss)}, end ${mib(result.end.rss)} (${pct(result.rssGrowth)} after warm-up; limit +5 %)`,
    `  gateway heap  start ${mib(result.start.heapUsed)}, after warm-up ${mib(result.afterWarmup.heapUsed)}, end ${mib(result.end.heapUsed)} (${pct(result.heapGrowth)} after warm-up; limit +5 %)`,
    `  event listeners start ${result.start.eventListeners}, end ${result.end.eventListeners}; connections at end ${result.end.connections}`,
    `  errors ${result.errors.length}, lost events ${result.lostEvents}`,
    ...result.errors.slice(0, 10).map((e) => `    ${e}`),
    '',
  ].join('\n'),
);
const ok =
  result.rssGrowth <= 0.05 &&
  result.heapGrowth <= 0.05 &&
  result.errors.length === 0 &&
  result.lostEvents === 0 &&
  result.end.eventListeners === result.start.eventListeners &&
  result.end.connections === 0;
process.exitCode = ok ? 0 : 1;
