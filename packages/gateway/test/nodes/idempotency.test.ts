import { describe, expect, it } from 'vitest';
import { IdempotencyWindow } from '../../src/nodes/idempotency.js';

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
