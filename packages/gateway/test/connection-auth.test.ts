import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GatewayError } from '@loopgate/protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  type AuthAttempt,
  ConnectionAuthenticator,
  type ConnectionAuthOptions,
  digestSecret,
  FailedAttemptLimiter,
  type GatewayCredential,
  OperatorTokens,
} from '../src/auth/index.js';
import type { NodeProof } from '../src/nodes/index.js';
import { thrown } from './rejection.js';

/**
 * Who a socket is, decided from its connection params alone: no sockets, a
 * real limiter and a real operator-token store. Node signatures and
 * `tailscale whois` are stand-ins here (the node registry and the tailscale
 * CLI have their own tests).
 */
const GATEWAY_TOKEN = 'gateway-secret-token-0123456789';
const tokenCredential: GatewayCredential = {
  mode: 'token',
  digest: digestSecret(GATEWAY_TOKEN),
  source: 'config',
  tokenPath: undefined,
};
const remote = { address: '203.0.113.7', isLoopback: false, hasOrigin: false };

let dir: string;
let tokens: OperatorTokens;
let warnings: string[];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'loopgate-connection-auth-'));
  tokens = new OperatorTokens({
    path: join(dir, 'operator-tokens.json'),
    connections: { all: () => [] },
    events: { emit: () => {} },
  });
  await tokens.open();
  warnings = [];
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Shaped like an Ed25519 key and signatures (base64url); only GOOD over challenge `c1` verifies. */
const KEY = 'k'.repeat(43);
const GOOD = 'g'.repeat(86);
const FORGED = 'f'.repeat(86);

function verifyNode(proof: NodeProof) {
  if (proof.signature !== GOOD || proof.challenge !== 'c1')
    throw new GatewayError('UNAUTHORIZED', "the node's signature does not match");
  return proof.nodeId === 'n-1'
    ? ({ role: 'node', nodeId: 'n-1' } as const)
    : ({ role: 'pairing', nodeKey: proof.publicKey } as const);
}

function authenticator(over: Partial<ConnectionAuthOptions> = {}) {
  return new ConnectionAuthenticator({
    allowTailscale: false,
    limiter: new FailedAttemptLimiter({ maxFailures: 3, windowMs: 60_000, lockoutMs: 60_000 }),
    gatewayCredential: () => tokenCredential,
    operatorTokens: tokens,
    verifyNode,
    tailscale: { verify: async () => ({ ok: false, reason: 'not used' }) },
    log: { warn: (_fields, message) => warnings.push(message) },
    ...over,
  });
}

const attempt = (params: Record<string, string> | null, more: Partial<AuthAttempt> = {}) => ({
  params,
  attemptSource: remote,
  challenge: 'c1',
  ...more,
});

describe('connection auth: operators', () => {
  it('the gateway token makes an admin, synchronously', () => {
    const identity = authenticator().authenticate(
      attempt({ token: GATEWAY_TOKEN, clientName: 'cli' }),
    );
    expect(identity).not.toBeInstanceOf(Promise);
    expect(identity).toMatchObject({
      role: 'operator',
      principal: 'operator.admin',
      credential: 'gateway-token',
      clientName: 'cli',
    });
  });

  it('the gateway password makes an admin in password mode; a token does not', () => {
    const auth = authenticator({
      gatewayCredential: () => ({ ...tokenCredential, mode: 'password' }),
    });
    expect(auth.authenticate(attempt({ password: GATEWAY_TOKEN }))).toMatchObject({
      principal: 'operator.admin',
      credential: 'gateway-password',
    });
    expect(thrown(() => auth.authenticate(attempt({ token: GATEWAY_TOKEN }))).message).toBe(
      'invalid token',
    );
  });

  it('a named operator token carries its scope and name; an expired one is refused naming when', async () => {
    const { token } = await tokens.create({ name: 'ci', scope: 'operator.read' });
    expect(authenticator().authenticate(attempt({ token }))).toMatchObject({
      principal: 'operator.read',
      credential: 'operator-token',
      credentialName: 'ci',
    });
    const soon = await tokens.create({
      name: 'brief',
      scope: 'operator.write',
      expiresInMs: 1_000,
    });
    const later = authenticator({ now: () => Date.now() + 5_000 });
    const error = thrown(() => later.authenticate(attempt({ token: soon.token })));
    expect(error.code).toBe('UNAUTHORIZED');
    expect(error.message).toMatch(/the operator token "brief" expired at \d{4}-/);
  });

  it('a missing credential names where to pass it; a wrong one never echoes the secret', () => {
    const missing = thrown(() => authenticator().authenticate(attempt(null)));
    expect(missing.code).toBe('UNAUTHORIZED');
    expect(missing.message).toMatch(/^missing token: the CLI takes --token/);
    const wrong = thrown(() => authenticator().authenticate(attempt({ token: 'guess-1234' })));
    expect(wrong.message).toBe('invalid token');
    expect(JSON.stringify(wrong)).not.toContain('guess-1234');
  });

  it('malformed params and a gateway without a credential yet are typed refusals', () => {
    const malformed = thrown(() => authenticator().authenticate(attempt({ role: 'root' })));
    expect([malformed.code, malformed.message]).toEqual([
      'UNAUTHORIZED',
      'malformed connection params',
    ]);
    const early = authenticator({ gatewayCredential: () => undefined });
    expect(thrown(() => early.authenticate(attempt({ token: GATEWAY_TOKEN }))).code).toBe(
      'UNAVAILABLE',
    );
  });

  it('brute force: after maxFailures wrong tokens the address is locked out, even with the right one', () => {
    const auth = authenticator();
    for (let i = 0; i < 2; i++)
      expect(thrown(() => auth.authenticate(attempt({ token: `wrong-${i}` }))).code).toBe(
        'UNAUTHORIZED',
      );
    const third = thrown(() => auth.authenticate(attempt({ token: 'wrong-2' })));
    expect(third.code).toBe('UNAUTHORIZED');
    expect(third.details?.retryAfterMs).toBeGreaterThan(0);
    const locked = thrown(() => auth.authenticate(attempt({ token: GATEWAY_TOKEN })));
    expect(locked.code).toBe('RATE_LIMITED');
    expect(locked.details?.retryAfterMs).toBeGreaterThan(0);
    // Another address is not affected.
    const other = { ...remote, address: '198.51.100.9' };
    expect(
      auth.authenticate(attempt({ token: GATEWAY_TOKEN }, { attemptSource: other })),
    ).toMatchObject({ principal: 'operator.admin' });
  });
});

describe('connection auth: nodes', () => {
  it('a paired node proves its key over the challenge and becomes role node', () => {
    const params = { role: 'node', nodeId: 'n-1', nodeKey: KEY, nodeSignature: GOOD };
    expect(authenticator().authenticate(attempt(params))).toMatchObject({
      role: 'node',
      principal: 'node',
      credential: 'node-key',
      nodeId: 'n-1',
      nodeKey: undefined,
    });
  });

  it('an unpaired key becomes role pairing, holding only its key', () => {
    const params = { role: 'pairing', nodeKey: KEY, nodeSignature: GOOD };
    expect(authenticator().authenticate(attempt(params))).toMatchObject({
      role: 'pairing',
      principal: 'pairing',
      nodeKey: KEY,
      nodeId: undefined,
    });
  });

  it('a node without a signature, or with a wrong one, is refused and counts toward the lockout', () => {
    const auth = authenticator();
    const noProof = thrown(() => auth.authenticate(attempt({ role: 'node', nodeId: 'n-1' })));
    expect(noProof.code).toBe('UNAUTHORIZED');
    expect(noProof.message).toMatch(/a node must sign this connection's challenge/);
    const forged = { role: 'node', nodeId: 'n-1', nodeKey: KEY, nodeSignature: FORGED };
    expect(thrown(() => auth.authenticate(attempt(forged))).code).toBe('UNAUTHORIZED');
    expect(thrown(() => auth.authenticate(attempt(forged))).code).toBe('UNAUTHORIZED');
    const good = { ...forged, nodeSignature: GOOD };
    expect(thrown(() => auth.authenticate(attempt(good))).code).toBe('RATE_LIMITED');
  });

  it('a signature over another challenge does not count', () => {
    const params = { role: 'node', nodeId: 'n-1', nodeKey: KEY, nodeSignature: GOOD };
    const error = thrown(() => authenticator().authenticate(attempt(params, { challenge: 'c2' })));
    expect(error.code).toBe('UNAUTHORIZED');
  });
});

describe('connection auth: tailscale identity', () => {
  const claim = { login: 'ada@example.com', clientAddress: '100.64.0.7' };

  it('a claim the daemon confirms makes an admin named by the login', async () => {
    const auth = authenticator({
      allowTailscale: true,
      tailscale: { verify: async (login) => ({ ok: true, login }) },
    });
    const identity = auth.authenticate(attempt(null, { tailscaleIdentity: claim }));
    expect(identity).toBeInstanceOf(Promise);
    await expect(identity).resolves.toMatchObject({
      principal: 'operator.admin',
      credential: 'tailscale',
      credentialName: 'ada@example.com',
    });
  });

  it('an unconfirmed claim is logged and dropped: the socket needs a credential like any other', async () => {
    const auth = authenticator({
      allowTailscale: true,
      tailscale: { verify: async () => ({ ok: false, reason: 'whois says someone else' }) },
    });
    await expect(
      auth.authenticate(attempt(null, { tailscaleIdentity: claim })),
    ).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
    expect(warnings).toEqual(['tailscale identity headers not confirmed; ignored']);
    await expect(
      auth.authenticate(attempt({ token: GATEWAY_TOKEN }, { tailscaleIdentity: claim })),
    ).resolves.toMatchObject({ credential: 'gateway-token' });
  });

  it('with allowTailscale off, a claim is ignored without asking the daemon', () => {
    let asked = 0;
    const auth = authenticator({
      tailscale: {
        verify: async (login) => {
          asked++;
          return { ok: true, login };
        },
      },
    });
    expect(thrown(() => auth.authenticate(attempt(null, { tailscaleIdentity: claim }))).code).toBe(
      'UNAUTHORIZED',
    );
    expect(asked).toBe(0);
  });
});
