/** Whether `value` is a thenable, as `await` and `Promise.resolve` treat it: an object or function with a `then` method. */
export function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return (
    (typeof value === 'object' || typeof value === 'function') &&
    value !== null &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}
