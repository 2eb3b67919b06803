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

describe('PairingQuota release', () => {
  it('frees one place per release, per address, and never counts below zero', async () => {
    const quota = new PairingQuota({ ...limits, maxPairingConnectionsPerAddress: 3 });
    quota.acquire('192.0.2.1');
    quota.acquire('192.0.2.1');
    quota.acquire('192.0.2.1');
    expect(await refusal(() => quota.acquire('192.0.2.1'))).toContain(
      '3 unpaired nodes are connected from this address',
    );
    quota.release('192.0.2.1');
    quota.acquire('192.0.2.1'); // one place came back, not all three
    expect(await refusal(() => quota.acquire('192.0.2.1'))).toContain('3 unpaired nodes');
    quota.release('192.0.2.1');
    quota.release('192.0.2.1');
    quota.release('192.0.2.1');
    expect(quota.total).toBe(0);
    // A release with nothing taken (a double close) frees nothing from anyone.
    quota.release('192.0.2.1');
    quota.release('192.0.2.9');
    expect(quota.total).toBe(0);
    for (let i = 0; i < 3; i++) quota.acquire('192.0.2.1');
    expect(await refusal(() => quota.acquire('192.0.2.1'))).toContain('3 unpaired nodes');
    for (let i = 0; i < 3; i++) quota.acquire('192.0.2.9');
    expect(quota.total).toBe(6);
  });
});
