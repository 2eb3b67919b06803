import { describe, expect, it } from 'vitest';
import { IdempotencyCache, IdempotencyWindow } from '../src/idempotency/index.js';

function windowWith(maxEntries: number, windowMs = 1_000) {
  const clock = { now: 0 };
  const w = new IdempotencyWindow<string>({
    windowMs: () => windowMs,
    maxEntries,
    now: () => clock.now,
  });
  return { w, clock };
}

describe('IdempotencyWindow', () => {
  it('returns an entry within the window and forgets it after', () => {
    const { w, clock } = windowWith(10);
    w.set('k', 'first');
    clock.now = 999;
    expect(w.get('k')).toBe('first');
    clock.now = 1_000;
    expect(w.get('k')).toBeUndefined();
    expect(w.size).toBe(0);
  });

  it('stays bounded, evicting the oldest first', () => {
    const { w, clock } = windowWith(3);
    for (let i = 0; i < 10; i++) {
      clock.now = i;
      w.set(`k${i}`, `v${i}`);
    }
    expect(w.size).toBe(3);
    expect(w.get('k6')).toBeUndefined();
    expect(w.get('k9')).toBe('v9');
  });

  it('evicts expired entries before live ones', () => {
    const { w, clock } = windowWith(2, 10);
    w.set('old', 'a');
    clock.now = 20;
    w.set('b', 'b');
    w.set('c', 'c');
    expect(w.get('b')).toBe('b');
    expect(w.get('c')).toBe('c');
  });

  it('gives expired entries back as new ones arrive, not only at the cap', () => {
    const { w, clock } = windowWith(10_000, 10);
    for (let i = 0; i < 100; i++) w.set(`old${i}`, 'x');
    clock.now = 10;
    w.set('new', 'y');
    expect(w.size).toBe(1);
    expect(w.get('new')).toBe('y');
  });

  it('keeps the oldest-first order through replacements and deletes, and stays bounded', () => {
    const { w, clock } = windowWith(3, 100);
    w.set('a', 'a1');
    w.set('b', 'b1');
    w.set('a', 'a2'); // replaced: now newest
    w.set('c', 'c1');
    expect([...w.values()]).toEqual(['b1', 'a2', 'c1']);
    w.delete('b', 'b1');
    for (let i = 0; i < 20_000; i++) w.set('c', `c${i}`); // one key over and over
    expect([...w.values()]).toEqual(['a2', 'c19999']);
    expect(w.get('a')).toBe('a2');
    expect(w.get('c')).toBe('c19999');
    w.set('d', 'd1');
    w.set('e', 'e1'); // over the cap: the oldest (a) goes
    expect([...w.values()]).toEqual(['c19999', 'd1', 'e1']);
    clock.now = 100;
    w.set('f', 'f1'); // everything before expired
    expect([...w.values()]).toEqual(['f1']);
    expect(w.size).toBe(1);
  });

  it('finds every live key after the front has moved far past where it started', () => {
    const { w, clock } = windowWith(500, 1_000);
    const expected = (i: number) =>
      i % 7 === 0 ? `again${i}` : i % 11 === 0 ? undefined : `v${i}`;
    for (let i = 0; i < 5_000; i++) {
      clock.now = i;
      w.set(`k${i}`, `v${i}`);
      if (i % 7 === 0) w.set(`k${i}`, `again${i}`);
      if (i % 11 === 0) w.delete(`k${i}`, `v${i}`);
      // A key set a while ago, so the order has been trimmed (and its indices moved) since.
      const back = i - 400;
      if (back >= 0) expect(w.get(`k${back}`)).toBe(expected(back));
    }
    expect(w.size).toBe(500);
    const found: string[] = [];
    for (let i = 0; i < 5_000; i++) {
      const entry = w.get(`k${i}`);
      if (entry === undefined) continue;
      expect(entry).toBe(expected(i));
      found.push(entry);
    }
    expect(found).toEqual([...w.values()]);
    expect(found).toHaveLength(500);
    expect(found.at(-1)).toBe('v4999');
  });

  it('replace keeps the place and the expiry, and only swaps the entry it was given', () => {
    const forgotten: string[] = [];
    const clock = { now: 0 };
    const w = new IdempotencyWindow<string>({
      windowMs: () => 100,
      maxEntries: 2,
      now: () => clock.now,
      onForget: (entry) => forgotten.push(entry),
    });
    w.set('a', 'running-a');
    clock.now = 50;
    w.set('b', 'running-b');
    w.replace('a', 'running-a', 'ended-a');
    w.replace('b', 'not-b', 'ended-b');
    expect([...w.values()]).toEqual(['ended-a', 'running-b']);
    expect(forgotten).toEqual([]);
    clock.now = 100;
    expect(w.get('a')).toBeUndefined(); // its window started at 0, not at the replace
    expect(w.get('b')).toBe('running-b');
    expect(forgotten).toEqual(['ended-a']);
  });

  it('delete only removes the entry it was given', () => {
    const { w } = windowWith(10);
    w.set('k', 'first');
    w.set('k', 'second');
    w.delete('k', 'first');
    expect(w.get('k')).toBe('second');
    w.delete('k', 'second');
    expect(w.get('k')).toBeUndefined();
  });
});

describe('IdempotencyCache', () => {
  it('returns the first result for a repeated key and refuses a reused key for another request', async () => {
    let now = 0;
    const cache = new IdempotencyCache<number>({ windowMs: 1000, now: () => now });
    let calls = 0;
    const act = async () => ++calls;
    const a = cache.run('k', { m: 1 }, act);
    const b = cache.run('k', { m: 1 }, act);
    expect(await a.value).toBe(1);
    expect(await b.value).toBe(1);
    expect(b.deduplicated).toBe(true);
    expect(() => cache.run('k', { m: 2 }, act)).toThrow(/different request/);
    now = 1001;
    expect(await cache.run('k', { m: 2 }, act).value).toBe(2);
  });

  it('forgets a failed call so it can be retried', async () => {
    const cache = new IdempotencyCache<number>({ windowMs: 1000 });
    await expect(
      cache.run('k', 1, async () => Promise.reject(new Error('boom'))).value,
    ).rejects.toThrow('boom');
    await Promise.resolve();
    const retry = cache.run('k', 1, async () => 7);
    expect(retry.deduplicated).toBe(false);
    expect(await retry.value).toBe(7);
  });
});
