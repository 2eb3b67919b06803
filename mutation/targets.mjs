// @ts-check
/**
 * The trust-boundary files mutation testing covers, one target per file,
 * each with the fast unit tests that exercise it. Stryker reruns the covering
 * tests once per mutant, so a target lists only tests that load little and
 * finish in well under a second; the cross-process suites in packages/tests
 * stay out.
 *
 * @type {Record<string, { mutate: string; tests: string[] }>}
 */
export const mutationTargets = {
  admission: {
    mutate: 'packages/gateway/src/transport/admission.ts',
    tests: ['packages/gateway/test/admission.test.ts'],
  },
  'rate-limiter': {
    mutate: 'packages/gateway/src/auth/rate-limiter.ts',
    tests: [
      'packages/gateway/test/rate-limiter.test.ts',
      'packages/gateway/test/admission.test.ts',
    ],
  },
  credentials: {
    mutate: 'packages/gateway/src/auth/credentials.ts',
    tests: ['packages/gateway/test/credentials.test.ts'],
  },
  'operator-access': {
    mutate: 'packages/gateway/src/auth/operator-access.ts',
    tests: ['packages/gateway/test/credentials.test.ts'],
  },
  'operator-tokens': {
    mutate: 'packages/gateway/src/auth/operator-tokens.ts',
    tests: ['packages/gateway/test/operator-tokens.test.ts'],
  },
  'access-table': {
    mutate: 'packages/gateway/src/authorization/access-table.ts',
    tests: [
      'packages/gateway/test/authorization.test.ts',
      'packages/gateway/test/router-authorize.test.ts',
    ],
  },
  pairing: {
    mutate: 'packages/gateway/src/nodes/pairing.ts',
    tests: [
      'packages/gateway/test/nodes/pairing.test.ts',
      'packages/gateway/test/nodes/node-service.test.ts',
    ],
  },
  'pairing-requests': {
    mutate: 'packages/gateway/src/nodes/pairing-requests.ts',
    tests: [
      'packages/gateway/test/nodes/pairing-requests.test.ts',
      'packages/gateway/test/nodes/pairing.test.ts',
      'packages/gateway/test/nodes/node-service.test.ts',
    ],
  },
  'pairing-quota': {
    mutate: 'packages/gateway/src/transport/pairing-quota.ts',
    tests: ['packages/gateway/test/pairing-quota.test.ts'],
  },
  'node-keys': {
    mutate: 'packages/gateway/src/nodes/node-keys.ts',
    tests: ['packages/gateway/test/nodes/node-keys.test.ts'],
  },
  invocation: {
    mutate: 'packages/gateway/src/nodes/invocation.ts',
    tests: [
      'packages/gateway/test/nodes/invocation.test.ts',
      'packages/gateway/test/nodes/invoke-broker.test.ts',
    ],
  },
  'fs-read': {
    mutate: 'packages/node/src/host/fs-read.ts',
    tests: ['packages/node/test/fs-read.test.ts', 'packages/node/test/host-commands.test.ts'],
  },
  'system-run': {
    mutate: 'packages/node/src/host/system-run.ts',
    tests: ['packages/node/test/system-run.test.ts', 'packages/node/test/host-commands.test.ts'],
  },
  fingerprint: {
    mutate: 'packages/client/src/tls/fingerprint.ts',
    tests: ['packages/client/test/tls-fingerprint.test.ts'],
  },
  'pinned-connection': {
    mutate: 'packages/client/src/tls/pinned-connection.ts',
    tests: [
      'packages/client/test/pinned-connector.test.ts',
      'packages/client/test/tls-pinning.test.ts',
    ],
  },
  'webhook-signature': {
    mutate: 'packages/gateway/src/channels/webhook/signature.ts',
    tests: ['packages/gateway/test/channels/webhook-signature.test.ts'],
  },
};

/** The target named by LOOPGATE_MUTATION_TARGET (set by mutation/run.mjs). */
export function selectedTarget() {
  const name = process.env.LOOPGATE_MUTATION_TARGET;
  if (!name) {
    throw new Error(
      'LOOPGATE_MUTATION_TARGET is not set: run `pnpm mutation [target ...]` (mutation/run.mjs), which runs one target at a time',
    );
  }
  const target = mutationTargets[name];
  if (!target) {
    throw new Error(
      `unknown mutation target "${name}"; known: ${Object.keys(mutationTargets).join(', ')}`,
    );
  }
  return { name, ...target };
}
