import { defineConfig } from 'vitest/config';
import { selectedTarget } from './mutation/targets.mjs';
import base from './vitest.config.js';

/**
 * The unit tests of the one file Stryker mutates in this run
 * (mutation/targets.mjs, chosen by LOOPGATE_MUTATION_TARGET).
 */
export default defineConfig({
  ...base,
  test: {
    ...base.test,
    include: selectedTarget().tests,
    reporters: ['default'],
  },
});
