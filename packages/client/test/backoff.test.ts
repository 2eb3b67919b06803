import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_BACKOFF, nextReconnectDelay } from '../src/backoff.js';

/** A small seeded PRNG (mulberry32) so spread checks are deterministic. */
function seeded(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('nextReconnectDelay (full jitter)', () => {
  it('jitters the first retry too, within [0, base)', () => {
    expect(nextReconnectDelay(0, () => 0)).toBe(0);
    expect(nextReconnectDelay(0, () => 0.5)).toBe(125);
    expect(nextReconnectDelay(0, () => 0.999_999)).toBe(249);
  });

  it('doubles the window per attempt and never exceeds the cap', () => {
    const top = (attempt: number) => nextReconnectDelay(attempt, () => 0.999_999);
    expect([0, 1, 2, 3, 4, 5].map(top)).toEqual([249, 499, 999, 1999, 3999, 7999]);
    expect(top(6)).toBe(9999);
    expect(top(60)).toBe(9999);
    expect(nextReconnectDelay(3, () => 0.5, { baseMs: 100, capMs: 500 })).toBe(250);
  });

  it('stays within [0, min(cap, base·2^attempt)) for any attempt and random draw', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 1_000 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        fc.integer({ min: 1, max: 5_000 }),
        fc.integer({ min: 1, max: 120_000 }),
        (attempt, r, baseMs, capMs) => {
          const delay = nextReconnectDelay(attempt, () => r, { baseMs, capMs });
          const ceiling = Math.min(capMs, baseMs * 2 ** Math.min(attempt, 30));
          return Number.isInteger(delay) && delay >= 0 && delay < Math.max(ceiling, 1);
        },
      ),
    );
  });

  it('spreads a fleet dropped at the same instant instead of sending it back at once', () => {
    const random = seeded(1);
    const delays = Array.from({ length: 1_000 }, () => nextReconnectDelay(0, random));
    // Stock tRPC sends every client back at 0 ms; full jitter spreads them
    // evenly over the first window: no 25 ms slice holds more than ~15 %.
    const slices = new Array(10).fill(0) as number[];
    for (const d of delays) slices[Math.floor(d / 25)]! += 1;
    expect(Math.max(...slices)).toBeLessThan(150);
    expect(Math.min(...slices)).toBeGreaterThan(50);
    expect(new Set(delays).size).toBeGreaterThan(200);
  });

  it('uses a 250 ms base and a 10 s cap by default', () => {
    expect(DEFAULT_BACKOFF).toEqual({ baseMs: 250, capMs: 10_000 });
  });
});
