import { describe, expect, it } from 'vitest';
import { PairingQuota } from '../src/transport/index.js';
import { rejection } from './rejection.js';

const limits = {
  maxConnections: 100,
  maxPairingConnections: 6,
  maxPairingConnectionsPerAddress: 2,
  reservedOperatorConnections: 64,
};

async function refusal(take: () => void): Promise<string> {
  const error = await rejection(Promise.resolve().then(take));
  expect(error.code).toBe('LIMIT_EXCEEDED');
  return error.message;
}

describe('PairingQuota (row 28)', () => {
  it('caps pairing sockets per address and in total, and frees a place on release', async () => {
    const quota = new PairingQuota(limits);
    quota.acquire('10.0.0.1');
    quota.acquire('10.0.0.1');
    expect(await refusal(() => quota.acquire('10.0.0.1'))).toMatch(
      /maxPairingConnectionsPerAddress/,
    );
    for (const a of ['10.0.0.2', '10.0.0.2', '10.0.0.3', '10.0.0.3']) quota.acquire(a);
    expect(await refusal(() => quota.acquire('10.0.0.4'))).toMatch(/maxPairingConnections\b/);
    quota.release('10.0.0.1');
    quota.acquire('10.0.0.4');
    expect(quota.total).toBe(6);
  });

  it('keeps a quarter of maxConnections (at most reservedOperatorConnections) out of pairing reach', async () => {
    const quota = new PairingQuota({
      ...limits,
      maxConnections: 20,
      maxPairingConnections: 1_000,
      maxPairingConnectionsPerAddress: 1_000,
    });
    expect(quota.reserved).toBe(5);
    for (let i = 0; i < 15; i++) quota.acquire('10.0.0.1');
    expect(await refusal(() => quota.acquire('10.0.0.2'))).toMatch(/kept for operators/);
    expect(new PairingQuota(limits).reserved).toBe(25);
    expect(new PairingQuota({ ...limits, maxConnections: 4096 }).reserved).toBe(64);
  });
});
