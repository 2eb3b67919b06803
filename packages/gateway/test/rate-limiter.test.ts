import { describe, expect, it } from 'vitest';
import { type AttemptSource, addressKey, FailedAttemptLimiter } from '../src/auth/rate-limiter.js';

const remote: AttemptSource = { address: '203.0.113.7', isLoopback: false, hasOrigin: false };
const other: AttemptSource = { address: '203.0.113.8', isLoopback: false, hasOrigin: false };
const localCli: AttemptSource = { address: '127.0.0.1', isLoopback: true, hasOrigin: false };
const localBrowser: AttemptSource = { address: '127.0.0.1', isLoopback: true, hasOrigin: true };

function failTimes(
  limiter: FailedAttemptLimiter,
  source: AttemptSource,
  count: number,
  start: number,
  stepMs = 1_000,
) {
  let last = limiter.check(source, start);
  for (let i = 0; i < count; i++) last = limiter.recordFailure(source, start + i * stepMs);
  return last;
}

describe('FailedAttemptLimiter', () => {
  it('locks an address out for 5 minutes after 10 failures within 60 s', () => {
    const limiter = new FailedAttemptLimiter();
    expect(failTimes(limiter, remote, 9, 0)).toEqual({ allowed: true });
    expect(limiter.check(remote, 9_000)).toEqual({ allowed: true });
    expect(limiter.recordFailure(remote, 9_000)).toEqual({ allowed: false, retryAfterMs: 300_000 });
    expect(limiter.check(remote, 10_000)).toEqual({ allowed: false, retryAfterMs: 299_000 });
    // The right credential does not help while locked: check refuses before it is tried.
    expect(limiter.check(remote, 308_999)).toEqual({ allowed: false, retryAfterMs: 1 });
    expect(limiter.check(remote, 309_000)).toEqual({ allowed: true });
  });

  it('keeps counting per address', () => {
    const limiter = new FailedAttemptLimiter();
    failTimes(limiter, remote, 10, 0);
    expect(limiter.check(remote, 10_000).allowed).toBe(false);
    expect(limiter.check(other, 10_000).allowed).toBe(true);
  });

  it('forgets failures older than the window', () => {
    const limiter = new FailedAttemptLimiter();
    failTimes(limiter, remote, 9, 0, 100);
    // 60 s after the first burst, those failures no longer count.
    expect(failTimes(limiter, remote, 9, 61_000, 100)).toEqual({ allowed: true });
    // ...while the ones inside it still do: the tenth recent failure locks.
    expect(limiter.recordFailure(remote, 62_000)).toEqual({
      allowed: false,
      retryAfterMs: 300_000,
    });
  });

  it('counts local processes in one shared loopback bucket: 30 per 60 s, a 60 s lockout', () => {
    const limiter = new FailedAttemptLimiter();
    const otherLocal: AttemptSource = { address: '::1', isLoopback: true, hasOrigin: false };
    expect(failTimes(limiter, localCli, 29, 0, 10)).toEqual({ allowed: true });
    expect(limiter.recordFailure(otherLocal, 400)).toEqual({
      allowed: false,
      retryAfterMs: 60_000,
    });
    expect(limiter.check(localCli, 1_000)).toEqual({ allowed: false, retryAfterMs: 59_400 });
    expect(limiter.check(localCli, 60_400)).toEqual({ allowed: true });
    // A remote address is not caught in the loopback lockout, and vice versa.
    expect(limiter.check(remote, 1_000)).toEqual({ allowed: true });
  });

  it('a browser page or a proxied request on any loopback address counts in one bucket under the main policy', () => {
    const limiter = new FailedAttemptLimiter();
    // A local process picks its source address: 127.0.0.2 and ::1 are the same peer.
    failTimes(limiter, localBrowser, 5, 0, 10);
    failTimes(limiter, { address: '127.0.0.2', isLoopback: true, hasOrigin: true }, 4, 100, 10);
    expect(
      limiter.recordFailure({ address: '::1', isLoopback: true, hasOrigin: true }, 200),
    ).toEqual({ allowed: false, retryAfterMs: 300_000 });
    expect(
      limiter.check({ address: '127.9.9.9', isLoopback: true, hasOrigin: true }, 1_000).allowed,
    ).toBe(false);
    expect(limiter.check(localCli, 1_000).allowed).toBe(true);
  });

  it('honours a configured policy', () => {
    const limiter = new FailedAttemptLimiter({ maxFailures: 2, windowMs: 1_000, lockoutMs: 5_000 });
    expect(limiter.recordFailure(remote, 0)).toEqual({ allowed: true });
    expect(limiter.recordFailure(remote, 500)).toEqual({ allowed: false, retryAfterMs: 5_000 });
    expect(limiter.check(remote, 5_500)).toEqual({ allowed: true });
  });

  it('keeps memory bounded under a flood of distinct addresses, pruning expired ones first', () => {
    const limiter = new FailedAttemptLimiter({
      maxFailures: 3,
      windowMs: 1_000,
      lockoutMs: 60_000,
      maxTrackedAddresses: 100,
    });
    failTimes(limiter, remote, 3, 0); // locked until 62 s
    for (let i = 0; i < 10_000; i++) {
      limiter.recordFailure(
        {
          address: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
          isLoopback: false,
          hasOrigin: false,
        },
        5_000 + i,
      );
      expect(limiter.trackedAddresses).toBeLessThanOrEqual(100);
    }
    limiter.prune(20_000);
    expect(limiter.trackedAddresses).toBeLessThanOrEqual(1);
  });

  it('prune drops idle entries but keeps lockouts', () => {
    const limiter = new FailedAttemptLimiter();
    limiter.recordFailure(other, 0);
    failTimes(limiter, remote, 10, 0);
    limiter.prune(120_000);
    expect(limiter.trackedAddresses).toBe(1);
    expect(limiter.check(remote, 120_000).allowed).toBe(false);
    limiter.prune(400_000);
    expect(limiter.trackedAddresses).toBe(0);
  });

  it('counts IPv6 callers by /64 and IPv4-mapped addresses as IPv4', () => {
    const limiter = new FailedAttemptLimiter({
      maxFailures: 2,
      windowMs: 60_000,
      lockoutMs: 60_000,
    });
    limiter.recordFailure({ address: '2001:db8:1:2::1', isLoopback: false, hasOrigin: false }, 0);
    limiter.recordFailure(
      { address: '2001:db8:1:2:ffff::9', isLoopback: false, hasOrigin: false },
      1,
    );
    expect(
      limiter.check(
        { address: '2001:0db8:0001:0002::abcd', isLoopback: false, hasOrigin: false },
        2,
      ).allowed,
    ).toBe(false);
    expect(
      limiter.check({ address: '2001:db8:1:3::1', isLoopback: false, hasOrigin: false }, 2).allowed,
    ).toBe(true);
    expect(addressKey('::ffff:198.51.100.4')).toBe('198.51.100.4');
    expect(addressKey('2001:db8::1')).toBe('2001:db8:0:0::/64');
  });
});

describe('FailedAttemptLimiter edges', () => {
  const policy = { maxFailures: 3, windowMs: 1_000, lockoutMs: 5_000 };

  it('uses the default loopback policy when a configured one leaves it out', () => {
    const limiter = new FailedAttemptLimiter(policy);
    expect(limiter.policy.loopback).toEqual({
      maxFailures: 30,
      windowMs: 60_000,
      lockoutMs: 60_000,
    });
    expect(limiter.policy.maxTrackedAddresses).toBe(10_000);
    expect(failTimes(limiter, localCli, 29, 0, 1).allowed).toBe(true);
    expect(limiter.recordFailure(localCli, 30)).toEqual({ allowed: false, retryAfterMs: 60_000 });
  });

  it('a failure while locked out does not extend the lockout, and says how long is left', () => {
    const limiter = new FailedAttemptLimiter(policy);
    failTimes(limiter, remote, 3, 0, 1);
    expect(limiter.recordFailure(remote, 1_002)).toEqual({ allowed: false, retryAfterMs: 4_000 });
    expect(limiter.check(remote, 5_001)).toEqual({ allowed: false, retryAfterMs: 1 });
    expect(limiter.check(remote, 5_002)).toEqual({ allowed: true });
  });

  it('a failure exactly one window old no longer counts', () => {
    const limiter = new FailedAttemptLimiter(policy);
    limiter.recordFailure(remote, 0);
    limiter.recordFailure(remote, 500);
    expect(limiter.recordFailure(remote, 1_000)).toEqual({ allowed: true });
    expect(limiter.recordFailure(remote, 1_499)).toEqual({ allowed: false, retryAfterMs: 5_000 });
  });

  it('evicts the least recently failing address first when full', () => {
    const limiter = new FailedAttemptLimiter({
      ...policy,
      windowMs: 60_000,
      maxTrackedAddresses: 2,
    });
    limiter.recordFailure(remote, 0);
    limiter.recordFailure(other, 1);
    limiter.recordFailure(remote, 2); // remote is now the more recent
    const third: AttemptSource = { address: '198.51.100.1', isLoopback: false, hasOrigin: false };
    limiter.recordFailure(third, 3); // full: `other` goes
    expect(limiter.trackedAddresses).toBe(2);
    expect(limiter.recordFailure(remote, 4).allowed).toBe(false); // its 3rd failure was remembered
    expect(failTimes(limiter, other, 2, 5, 1).allowed).toBe(true); // started over
  });

  it('keeps idle entries until room is needed or prune runs', () => {
    const limiter = new FailedAttemptLimiter({ ...policy, maxTrackedAddresses: 10 });
    limiter.recordFailure(remote, 0);
    limiter.recordFailure(other, 5_000); // remote's failure is long out of the window
    expect(limiter.trackedAddresses).toBe(2);
  });

  it('when full, drops expired entries before live ones', () => {
    const limiter = new FailedAttemptLimiter({ ...policy, maxTrackedAddresses: 2 });
    limiter.recordFailure(remote, 0);
    limiter.recordFailure(other, 900);
    const third: AttemptSource = { address: '198.51.100.1', isLoopback: false, hasOrigin: false };
    limiter.recordFailure(third, 1_500); // remote's failure is a window old: it goes, other stays
    expect(limiter.trackedAddresses).toBe(2);
    limiter.recordFailure(other, 1_600);
    expect(limiter.recordFailure(other, 1_700).allowed).toBe(false);
  });

  it('prune keeps an entry until its last failure is a full window old, and the loopback bucket by its own window', () => {
    const limiter = new FailedAttemptLimiter({
      ...policy,
      loopback: { ...policy, windowMs: 10_000 },
    });
    limiter.recordFailure(remote, 0);
    limiter.recordFailure(localCli, 0);
    limiter.prune(999);
    expect(limiter.trackedAddresses).toBe(2);
    limiter.prune(1_000);
    expect(limiter.trackedAddresses).toBe(1); // the loopback bucket's window is 10 s
    limiter.prune(10_000);
    expect(limiter.trackedAddresses).toBe(0);
    failTimes(limiter, remote, 3, 0, 1);
    limiter.prune(5_001);
    expect(limiter.trackedAddresses).toBe(1); // locked until 5 002
    limiter.prune(5_002);
    expect(limiter.trackedAddresses).toBe(0);
  });

  it('keys IPv6 forms by their /64: zones, leading and trailing ::, full form, mapped IPv4', () => {
    expect(addressKey('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
    expect(addressKey('::1')).toBe('0:0:0:0::/64');
    expect(addressKey('2001:db8:a::')).toBe('2001:db8:a:0::/64');
    expect(addressKey('2001:0DB8:0001:0002:0003:0004:0005:0006')).toBe('2001:db8:1:2::/64');
    expect(addressKey('::ffff:abcd')).toBe('0:0:0:0::/64');
    expect(addressKey('::FFFF:10.0.0.1')).toBe('10.0.0.1');
    // Seven characters then an IPv4 tail, but not IPv4-mapped: keyed as IPv6.
    expect(addressKey('::abcd:1.2.3.4')).toBe('0:0:0:0::/64');
    // A short :: run: the groups after it land in the first 64 bits.
    expect(addressKey('2001::3:4:5:6:7:8')).toBe('2001:0:3:4::/64');
    expect(addressKey('203.0.113.7')).toBe('203.0.113.7');
  });
});
