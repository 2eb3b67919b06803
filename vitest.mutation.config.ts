import { defineConfig } from 'vitest/config';
import base from './vitest.config.js';

/**
 * The fast unit tests that cover the trust-boundary files Stryker mutates
 * (stryker.config.mjs). Mutation testing reruns them once per mutant, so the
 * cross-process suites in packages/tests stay out: they would take hours.
 */
export default defineConfig({
  ...base,
  test: {
    ...base.test,
    include: [
      'packages/gateway/test/admission.test.ts',
      'packages/gateway/test/data-frames.test.ts',
      'packages/gateway/test/rate-limiter.test.ts',
      'packages/gateway/test/operator-tokens.test.ts',
      'packages/gateway/test/pairing-quota.test.ts',
      'packages/gateway/test/nodes/node-registry.test.ts',
      'packages/gateway/test/authorization.test.ts',
      'packages/gateway/test/router-authorize.test.ts',
      'packages/gateway/test/nodes/node-service.test.ts',
      'packages/gateway/test/nodes/invocation.test.ts',
      'packages/gateway/test/nodes/invoke-broker.test.ts',
      'packages/gateway/test/channels/webhook-channel.test.ts',
      'packages/gateway/test/channels/webhook-signature.test.ts',
      'packages/node/test/host-commands.test.ts',
      'packages/client/test/tls-fingerprint.test.ts',
      'packages/client/test/tls-pinning.test.ts',
    ],
    reporters: ['default'],
    // Tests with a time bound allow for the instrumented (slower) code.
    env: { ...base.test?.env, LOOPGATE_MUTATION_RUN: '1' },
  },
});
