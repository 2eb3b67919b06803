// @ts-check
/**
 * Mutation testing of the trust boundary: `pnpm mutation` (see docs/testing.md).
 * Not part of `pnpm test` or .ci/run: one run takes about as long as the
 * whole suite does on two cores.
 * @type {import('@stryker-mutator/api/core').PartialStrykerOptions}
 */
export default {
  packageManager: 'pnpm',
  testRunner: 'vitest',
  plugins: ['@stryker-mutator/vitest-runner'],
  vitest: { configFile: 'vitest.mutation.config.ts', related: false },
  // Mutate the files where they are: the workspace packages import each
  // other through node_modules symlinks, which a sandbox copy would bypass.
  inPlace: true,
  // vitest does not typecheck, so no file needs a // @ts-nocheck: only the mutated files are touched.
  disableTypeChecks: false,
  // A mutant in a module-level constant needs every test rerun with a fresh module graph:
  // 5 % of the mutants, over half the time. They are reported as ignored.
  ignoreStatic: true,
  coverageAnalysis: 'perTest',
  incremental: true,
  incrementalFile: 'reports/mutation/stryker-incremental.json',
  concurrency: 2,
  timeoutMS: 15_000,
  mutate: [
    'packages/gateway/src/transport/admission.ts',
    'packages/gateway/src/auth/rate-limiter.ts',
    'packages/gateway/src/auth/credentials.ts',
    'packages/gateway/src/auth/operator-tokens.ts',
    'packages/gateway/src/auth/operator-access.ts',
    'packages/gateway/src/authorization/access-table.ts',
    'packages/gateway/src/nodes/pairing.ts',
    'packages/gateway/src/nodes/pairing-requests.ts',
    'packages/gateway/src/transport/pairing-quota.ts',
    'packages/gateway/src/nodes/node-tokens.ts',
    'packages/gateway/src/nodes/invocation.ts',
    'packages/node/src/host/fs-read.ts',
    'packages/node/src/host/system-run.ts',
    'packages/client/src/tls/fingerprint.ts',
    'packages/client/src/tls/pinned-connection.ts',
    'packages/gateway/src/channels/webhook/signature.ts',
  ],
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: 'reports/mutation/mutation.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  thresholds: { high: 90, low: 85, break: null },
};
