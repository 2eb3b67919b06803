import { createHash } from 'node:crypto';
import { GatewayError } from '@loopgate/protocol';
import { IdempotencyWindow } from './idempotency-window.js';

type Entry<T> = { fingerprint: string; value: Promise<T> };

/**
 * Remembers what a call with an idempotency key produced, for a window, so a
 * client retrying after a dropped connection gets the first result instead of
 * a second action. A key reused for a different request is a CONFLICT (a
 * client bug worth hearing about). A call that failed is forgotten, so it can
 * be retried with the same key. (`agent` and `send`; `nodes.invoke` keeps its
 * own entries in an `IdempotencyWindow`, since it joins calls still running.)
 */
export class IdempotencyCache<T> {
  readonly #window: IdempotencyWindow<Entry<T>>;

  constructor(options: { windowMs: number; maxEntries?: number; now?: () => number }) {
    this.#window = new IdempotencyWindow({
      windowMs: () => options.windowMs,
      maxEntries: options.maxEntries ?? 10_000,
      now: options.now ?? Date.now,
    });
  }

  run(
    key: string,
    request: unknown,
    act: () => Promise<T>,
  ): { value: Promise<T>; deduplicated: boolean } {
    const fingerprint = fingerprintOf(request);
    const existing = this.#window.get(key);
    if (existing) {
      if (existing.fingerprint !== fingerprint) {
        throw new GatewayError(
          'CONFLICT',
          'this idempotency key was already used for a different request; use a new key',
        );
      }
      return { value: existing.value, deduplicated: true };
    }
    const value = act();
    const entry: Entry<T> = { fingerprint, value };
    this.#window.set(key, entry);
    value.catch(() => this.#window.delete(key, entry));
    return { value, deduplicated: false };
  }
}

function fingerprintOf(request: unknown): string {
  return createHash('sha256')
    .update(JSON.stringify(request) ?? '')
    .digest('base64url');
}
