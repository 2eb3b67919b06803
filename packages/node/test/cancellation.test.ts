import { describe, expect, it } from 'vitest';
import { Cancellation } from '../src/cancellation.js';

describe('Cancellation', () => {
  it('makes no AbortController until signal is read, and one after', () => {
    const made: AbortController[] = [];
    const Original = globalThis.AbortController;
    globalThis.AbortController = class extends Original {
      constructor() {
        super();
        made.push(this);
      }
    };
    try {
      const cancel = new Cancellation();
      expect(cancel.abort('stop')).toBe(true);
      expect(made).toHaveLength(0);
      const signal = cancel.signal;
      expect(made).toHaveLength(1);
      expect(cancel.signal).toBe(signal);
      expect(made).toHaveLength(1);
    } finally {
      globalThis.AbortController = Original;
    }
  });

  it('a signal read after the cancel is born aborted with its reason; one read before fires', () => {
    const late = new Cancellation();
    late.abort(new Error('deadline'));
    expect(late.signal.aborted).toBe(true);
    expect((late.signal.reason as Error).message).toBe('deadline');

    const early = new Cancellation();
    const signal = early.signal;
    let fired: unknown;
    signal.addEventListener('abort', () => {
      fired = signal.reason;
    });
    expect(early.aborted).toBe(false);
    early.abort('cancelled');
    expect(fired).toBe('cancelled');
    expect(early.aborted).toBe(true);
  });

  it('cancels once: a second abort changes nothing and says so', () => {
    const cancel = new Cancellation();
    expect(cancel.abort('first')).toBe(true);
    expect(cancel.abort('second')).toBe(false);
    expect(cancel.signal.reason).toBe('first');
  });

  it('race: lets go of work that ignores the cancel, and passes through work that ends first', async () => {
    const cancel = new Cancellation();
    const stuck = cancel.race(new Promise(() => {}));
    cancel.abort('gone');
    await expect(stuck).rejects.toBe('gone');
    await expect(cancel.race(Promise.resolve(1))).rejects.toBe('gone');

    const fresh = new Cancellation();
    await expect(fresh.race(Promise.resolve('done'))).resolves.toBe('done');
    await expect(fresh.race(Promise.reject(new Error('failed')))).rejects.toThrow('failed');
    await expect(fresh.race(7)).resolves.toBe(7);
    // a finished race leaves nothing behind for a later cancel to reject
    expect(fresh.abort('later')).toBe(true);
  });
});
