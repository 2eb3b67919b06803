import { describe, expect, it } from 'vitest';
import { raceAbort } from '../src/abort.js';

describe('raceAbort', () => {
  it('settles like the promise while the signal stays quiet, and lets go of the signal', async () => {
    const controller = new AbortController();
    let listeners = 0;
    const signal = controller.signal;
    const add = signal.addEventListener.bind(signal);
    const remove = signal.removeEventListener.bind(signal);
    signal.addEventListener = ((...args: Parameters<typeof add>) => {
      listeners++;
      add(...args);
    }) as typeof add;
    signal.removeEventListener = ((...args: Parameters<typeof remove>) => {
      listeners--;
      remove(...args);
    }) as typeof remove;
    await expect(raceAbort(Promise.resolve(1), signal)).resolves.toBe(1);
    await expect(raceAbort(Promise.reject(new Error('no')), signal)).rejects.toThrow('no');
    expect(listeners).toBe(0);
  });

  it('rejects with the abort reason by default, or settles with what onAbort returns', async () => {
    const never = new Promise<number>(() => {});
    const a = new AbortController();
    const rejected = raceAbort(never, a.signal);
    a.abort(new Error('cancelled'));
    await expect(rejected).rejects.toThrow('cancelled');

    const b = new AbortController();
    const quiet = raceAbort(never, b.signal, () => undefined);
    b.abort();
    await expect(quiet).resolves.toBeUndefined();
    // already aborted: no waiting at all
    await expect(raceAbort(never, b.signal, () => 'late')).resolves.toBe('late');
  });
});
