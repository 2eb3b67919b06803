// @ts-check
import { selectedTarget } from './mutation/targets.mjs';

/**
 * Mutation testing of the trust boundary, one file per run: `pnpm mutation`
 * (mutation/run.mjs) runs every target of mutation/targets.mjs in turn, each
 * against only the unit tests for that file (see docs/testing.md).
 */
const target = selectedTarget();
const reports = `reports/mutation/${target.name}`;

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  packageManager: 'pnpm',
  testRunner: 'vitest',
  plugins: ['@stryker-mutator/vitest-runner'],
  // vitest.mutation.config.ts includes only this target's tests.
  vitest: { configFile: 'vitest.mutation.config.ts', related: false },
  // Mutate the files where they are: the workspace packages import each
  // other through node_modules symlinks, which a sandbox copy would bypass.
  inPlace: true,
  // vitest does not typecheck, so no file needs a // @ts-nocheck: only the mutated files are touched.
  disableTypeChecks: false,
  // A mutant in a module-level constant needs every test rerun with a fresh module graph.
  // They are reported as ignored.
  ignoreStatic: true,
  coverageAnalysis: 'perTest',
  incremental: true,
  incrementalFile: `${reports}/stryker-incremental.json`,
  // The machine is shared: one worker unless LOOPGATE_MUTATION_CONCURRENCY says otherwise.
  concurrency: Number(process.env.LOOPGATE_MUTATION_CONCURRENCY ?? 1),
  timeoutMS: 10_000,
  mutate: [target.mutate],
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: `${reports}/mutation.html` },
  jsonReporter: { fileName: `${reports}/mutation.json` },
  thresholds: { high: 90, low: 85, break: null },
};
