import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Deadlines } from '../src/deadlines.js';

describe('Deadlines: many deadlines, one timer', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('runs a deadline once its duration has passed, and a cancelled one never', () => {
    const deadlines = new Deadlines();
    const fired: string[] = [];
    deadlines.add(100, () => fired.push('kept'));
    const cancelled = deadlines.add(100, () => fired.push('cancelled'));
    cancelled.cancel();
    cancelled.cancel();
    vi.advanceTimersByTime(99);
    expect(fired).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(fired).toEqual(['kept']);
    vi.advanceTimersByTime(1_000);
    expect(fired).toEqual(['kept']);
  });

  it('arms one timer for calls that finish in time, however many there are', () => {
    const deadlines = new Deadlines();
    const setTimeoutSpy = vi.spyOn(globalThis, 'setTimeout');
    const fired: number[] = [];
    for (let i = 0; i < 1_000; i++) {
      const deadline = deadlines.add(30_000, () => fired.push(i));
      vi.advanceTimersByTime(1);
      deadline.cancel();
    }
    expect(setTimeoutSpy).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(60_000);
    expect(fired).toEqual([]);
    setTimeoutSpy.mockRestore();
  });

  it('fires deadlines of different durations in time, re-arming for an earlier one', () => {
    const deadlines = new Deadlines();
    const fired: string[] = [];
    deadlines.add(500, () => fired.push('500'));
    deadlines.add(50, () => fired.push('50'));
    vi.advanceTimersByTime(10);
    deadlines.add(200, () => fired.push('200 (at 210)'));
    deadlines.add(50, () => fired.push('50 (at 60)'));
    vi.advanceTimersByTime(40);
    expect(fired).toEqual(['50']);
    vi.advanceTimersByTime(10);
    expect(fired).toEqual(['50', '50 (at 60)']);
    vi.advanceTimersByTime(150);
    expect(fired).toEqual(['50', '50 (at 60)', '200 (at 210)']);
    vi.advanceTimersByTime(290);
    expect(fired).toEqual(['50', '50 (at 60)', '200 (at 210)', '500']);
  });

  it('skips cancelled heads: the next live deadline still fires on time', () => {
    const deadlines = new Deadlines();
    const fired: string[] = [];
    const first = deadlines.add(100, () => fired.push('first'));
    vi.advanceTimersByTime(30);
    deadlines.add(100, () => fired.push('second (at 130)'));
    first.cancel();
    vi.advanceTimersByTime(70);
    expect(fired).toEqual([]);
    vi.advanceTimersByTime(30);
    expect(fired).toEqual(['second (at 130)']);
  });

  it('lets a callback add a deadline, and one that throws does not stop the others', () => {
    const deadlines = new Deadlines();
    const fired: string[] = [];
    // the throw is re-raised on its own, as a timer callback's would be: caught here instead
    const reraised: (() => void)[] = [];
    const microtask = vi
      .spyOn(globalThis, 'queueMicrotask')
      .mockImplementation((fn) => reraised.push(fn));
    try {
      deadlines.add(10, () => {
        throw new Error('a failing timeout handler');
      });
      deadlines.add(10, () => {
        fired.push('second');
        deadlines.add(10, () => fired.push('added by the second'));
      });
      vi.advanceTimersByTime(10);
      expect(fired).toEqual(['second']);
      vi.advanceTimersByTime(10);
      expect(fired).toEqual(['second', 'added by the second']);
    } finally {
      microtask.mockRestore();
    }
    expect(reraised).toHaveLength(1);
    expect(reraised[0]).toThrow('a failing timeout handler');
  });

  it('clear forgets everything pending', () => {
    const deadlines = new Deadlines();
    const fired: string[] = [];
    deadlines.add(10, () => fired.push('a'));
    deadlines.add(20, () => fired.push('b'));
    deadlines.clear();
    vi.advanceTimersByTime(100);
    expect(fired).toEqual([]);
    deadlines.add(10, () => fired.push('after clear'));
    vi.advanceTimersByTime(10);
    expect(fired).toEqual(['after clear']);
  });
});
