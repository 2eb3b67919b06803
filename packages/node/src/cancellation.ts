/**
 * One invocation's cancel switch. Most commands finish without looking at
 * their signal, and an `AbortController` (an EventTarget, with listeners) per
 * invocation was a sixth of a busy node's CPU; so the controller is made
 * only when a command reads `signal`, and a cancel before that leaves the
 * reason the signal is then born aborted with.
 */
export class Cancellation {
  #controller: AbortController | undefined;
  #aborted = false;
  #reason: unknown;
  /** Rejects the pending `race`, if any. */
  #onAbort: ((reason: unknown) => void) | undefined;

  get aborted(): boolean {
    return this.#aborted;
  }

  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      if (this.#aborted) this.#controller.abort(this.#reason);
    }
    return this.#controller.signal;
  }

  /** Returns false when it was already cancelled. */
  abort(reason: unknown): boolean {
    if (this.#aborted) return false;
    this.#aborted = true;
    this.#reason = reason;
    this.#controller?.abort(reason);
    const onAbort = this.#onAbort;
    this.#onAbort = undefined;
    onAbort?.(reason);
    return true;
  }

  /** `work`, or a rejection as soon as this is cancelled (the work itself is left to finish on its own). */
  race<T>(work: Promise<T> | T): Promise<T> {
    if (this.#aborted) return Promise.reject(this.#reason);
    return new Promise<T>((resolve, reject) => {
      this.#onAbort = reject;
      Promise.resolve(work).then(
        (value) => {
          this.#onAbort = undefined;
          resolve(value);
        },
        (error: unknown) => {
          this.#onAbort = undefined;
          reject(error);
        },
      );
    });
  }
}

/** A `Cancellation` view of a signal someone else owns (a caller that passed its own context). */
export function cancellationOf(signal: AbortSignal): Pick<Cancellation, 'aborted' | 'race'> {
  return {
    get aborted() {
      return signal.aborted;
    },
    race<T>(work: Promise<T> | T): Promise<T> {
      if (signal.aborted) return Promise.reject(signal.reason);
      return new Promise<T>((resolve, reject) => {
        const onAbort = () => reject(signal.reason);
        signal.addEventListener('abort', onAbort, { once: true });
        Promise.resolve(work).then(
          (value) => {
            signal.removeEventListener('abort', onAbort);
            resolve(value);
          },
          (error: unknown) => {
            signal.removeEventListener('abort', onAbort);
            reject(error);
          },
        );
      });
    },
  };
}
