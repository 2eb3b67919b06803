import { pairingCodeOf } from '@loopgate/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type PairDecision,
  PairingRequests,
  type PendingRequest,
} from '../../src/nodes/pairing-requests.js';
import { testNodeKey } from './node-sockets.js';

/**
 * The pending pairing requests on their own, with a clock the test moves:
 * lookups, expiry, the grace after the last waiting socket leaves, and the
 * memory of rejected keys. NodeService's pairing flow is pairing.test.ts.
 */
const limits = {
  pendingTtlMs: 60_000,
  maxPending: 64,
  maxPendingPerAddress: 16,
  pendingGraceMs: 20,
};
let clock = 1_000;
const lapsed: { requestId: string; decision: string }[] = [];
const stores: PairingRequests[] = [];

function store(overrides: Partial<typeof limits> = {}): PairingRequests {
  const requests = new PairingRequests({
    limits: () => ({ ...limits, ...overrides }),
    onLapsed: (request, decision) => lapsed.push({ requestId: request.requestId, decision }),
    now: () => clock,
  });
  stores.push(requests);
  return requests;
}

function ask(
  requests: PairingRequests,
  name: string,
  extra: { version?: string; remoteAddress?: string } = {},
) {
  return requests.add({
    name,
    platform: 'linux',
    version: extra.version,
    commands: ['system.info'],
    publicKey: testNodeKey().publicKey,
    remoteAddress: extra.remoteAddress ?? '192.0.2.7',
  });
}

afterEach(() => {
  for (const s of stores.splice(0)) s.close();
  lapsed.length = 0;
  clock = 1_000;
});

describe('PairingRequests', () => {
  it('files a request with a pr- id, its key’s code, and an expiry one TTL from now', () => {
    const requests = store();
    const request = ask(requests, 'Box', { version: '1.2.3' });
    expect(request.requestId).toMatch(/^pr[-_]/);
    expect(request.pairingCode).toBe(pairingCodeOf(request.publicKey));
    expect(request.requestedAt).toBe(1_000);
    expect(request.expiresAt).toBe(61_000);
    expect(requests.size).toBe(1);
    expect(requests.all()).toEqual([request]);
    expect(requests.list()).toEqual([
      {
        requestId: request.requestId,
        pairingCode: request.pairingCode,
        name: 'Box',
        platform: 'linux',
        version: '1.2.3',
        commands: ['system.info'],
        remoteAddress: '192.0.2.7',
        requestedAt: 1_000,
        expiresAt: 61_000,
        waiting: false,
        contested: false,
      },
    ]);
    const unversioned = ask(requests, 'other');
    expect(requests.list().find((r) => r.requestId === unversioned.requestId)).not.toHaveProperty(
      'version',
    );
    requests.wait(request, 'conn-1');
    expect(requests.list()[0]?.waiting).toBe(true);
  });

  it('finds a request by id, by code in any spelling, by name case-insensitively, and by key', () => {
    const requests = store();
    const a = ask(requests, 'Box');
    const b = ask(requests, 'other');
    expect(requests.byId(a.requestId)).toBe(a);
    expect(requests.byCode(a.pairingCode.toLowerCase().replace('-', ' '))).toBe(a);
    expect(requests.byCode(b.pairingCode)).toBe(b);
    expect(requests.byCode('not a code')).toBeUndefined();
    expect(requests.byCode('AAAA-AAAA')).toBeUndefined();
    expect(requests.byName('BOX')).toEqual([a]);
    expect(requests.byName('nobody')).toEqual([]);
    expect(requests.byKey(b.publicKey)).toBe(b);
    expect(requests.byKey('unknown')).toBeUndefined();
  });

  it('withdraws a request only after the last waiting socket left and the grace ran out', async () => {
    const requests = store();
    const request = ask(requests, 'box');
    requests.wait(request, 'conn-1');
    requests.wait(request, 'conn-2');
    requests.stopWaiting('conn-1');
    requests.stopWaiting('conn-unknown');
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(requests.size).toBe(1);
    requests.stopWaiting('conn-2');
    await expect(request.decision).resolves.toEqual({ status: 'withdrawn' });
    expect(lapsed).toEqual([{ requestId: request.requestId, decision: 'withdrawn' }]);
    expect(requests.size).toBe(0);
  });

  it('a socket waiting again within the grace keeps the request', async () => {
    const requests = store({ pendingGraceMs: 30 });
    const request = ask(requests, 'box');
    requests.wait(request, 'conn-1');
    requests.stopWaiting('conn-1');
    requests.wait(request, 'conn-2');
    await new Promise((resolve) => setTimeout(resolve, 80));
    expect(requests.size).toBe(1);
    expect(lapsed).toEqual([]);
  });

  it('ignores decisions and waits for requests no longer pending', async () => {
    const requests = store();
    const request = ask(requests, 'box');
    requests.decide(request, { status: 'approved', nodeId: 'nd-1' });
    requests.decide(request, { status: 'rejected', reason: 'late' });
    await expect(request.decision).resolves.toEqual({ status: 'approved', nodeId: 'nd-1' });
    expect(requests.rejection(request.publicKey)).toBeUndefined();
    requests.wait(request, 'conn-1');
    expect(requests.size).toBe(0);
  });

  it('remembers a rejected key until one TTL has passed', () => {
    const requests = store();
    const request = ask(requests, 'box');
    requests.decide(request, { status: 'rejected', reason: 'not ours' });
    expect(requests.rejection(request.publicKey)).toEqual({ reason: 'not ours' });
    clock += 59_999;
    expect(requests.rejection(request.publicKey)).toEqual({ reason: 'not ours' });
    clock += 1;
    expect(requests.rejection(request.publicKey)).toBeUndefined();
    const expired = ask(requests, 'two');
    requests.decide(expired, { status: 'expired' });
    expect(requests.rejection(expired.publicKey)).toBeUndefined();
  });

  it('remembers at most 1 024 rejected keys, forgetting the oldest', () => {
    const requests = store({ maxPending: 2_000, maxPendingPerAddress: 2_000 });
    const rejected: PendingRequest[] = [];
    for (let i = 0; i < 1_025; i++) {
      const request = ask(requests, `n${i}`);
      requests.decide(request, { status: 'rejected' });
      rejected.push(request);
    }
    expect(requests.rejection((rejected[0] as PendingRequest).publicKey)).toBeUndefined();
    expect(requests.rejection((rejected[1] as PendingRequest).publicKey)).toEqual({
      reason: undefined,
    });
    expect(requests.rejection((rejected[1_024] as PendingRequest).publicKey)).toBeDefined();
  });

  it('ends every pending request as expired when closed', async () => {
    const requests = store();
    const decisions: Promise<PairDecision>[] = [
      ask(requests, 'a').decision,
      ask(requests, 'b').decision,
    ];
    requests.close();
    expect(await Promise.all(decisions)).toEqual([{ status: 'expired' }, { status: 'expired' }]);
    expect(requests.size).toBe(0);
    expect(lapsed).toEqual([]);
  });
});
