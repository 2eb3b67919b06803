/**
 * Settles like `promise`, unless `signal` aborts first: then with what
 * `onAbort` returns, or rejected with what it throws (by default the
 * signal's reason). The abort listener is removed however it ends, so a
 * long-lived signal (a connection's) does not collect one per call.
 */
export function raceAbort<T, A = never>(
  promise: Promise<T>,
  signal: AbortSignal,
  onAbort: (reason: unknown) => A = (reason) => {
    throw reason;
  },
): Promise<T | A> {
  const aborted = (): Promise<A> => {
    try {
      return Promise.resolve(onAbort(signal.reason));
    } catch (error) {
      return Promise.reject(error);
    }
  };
  if (signal.aborted) return aborted();
  return new Promise<T | A>((resolve, reject) => {
    const listener = () => aborted().then(resolve, reject);
    signal.addEventListener('abort', listener, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', listener);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', listener);
        reject(error);
      },
    );
  });
}
