import { defineConfig } from 'vitest/config';
import { inCI } from './packages/tests/src/ci.js';

// Tests run straight from TypeScript sources: every workspace package exports a
// `@loopgate/source` condition pointing at its `src/index.ts`.
const conditions = ['@loopgate/source', 'module', 'node', 'development|production'];

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions, externalConditions: ['@loopgate/source'] } },
  test: {
    include: ['packages/*/test/**/*.test.{ts,tsx}', 'apps/*/test/**/*.test.{ts,tsx}'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    env: { NODE_ENV: 'test' },
    // CI also writes a machine-readable report; .ci/run computes its pass/fail line from it.
    reporters: inCI()
      ? ['default', ['json', { outputFile: '.ci/results/vitest.json' }]]
      : ['default'],
  },
});
