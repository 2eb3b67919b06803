import { createHash } from 'node:crypto';
import { GatewayError } from '@loopgate/protocol';

type Entry<T> = { fingerprint: string; value: Promise<T>; expiresAt: number };

/**
 * Remembers what a call with an idempotency key produced, for a window, so a
 * client retrying after a dropped connection gets the first result instead of
 * a second action. A key reused for a different request is a CONFLICT (a
 * client bug worth hearing about). A call that failed is forgotten, so it can
 * be retried with the same key.
 */
export class IdempotencyCache<T> {
  readonly #entries = new Map<string, Entry<T>>();
  readonly #windowMs: number;
  readonly #maxEntries: number;
  readonly #now: () => number;

  constructor(options: { windowMs: number; maxEntries?: number; now?: () => number }) {
    this.#windowMs = options.windowMs;
    this.#maxEntries = options.maxEntries ?? 10_000;
    this.#now = options.now ?? Date.now;
  }

  run(
    key: string,
    request: unknown,
    act: () => Promise<T>,
  ): { value: Promise<T>; deduplicated: boolean } {
    const now = this.#now();
    this.#expire(now);
    const fingerprint = fingerprintOf(request);
    const existing = this.#entries.get(key);
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
    const entry: Entry<T> = { fingerprint, value, expiresAt: now + this.#windowMs };
    this.#entries.set(key, entry);
    value.catch(() => {
      if (this.#entries.get(key) === entry) this.#entries.delete(key);
    });
    while (this.#entries.size > this.#maxEntries)
      this.#entries.delete(this.#entries.keys().next().value as string);
    return { value, deduplicated: false };
  }

  #expire(now: number): void {
    // Insertion order is expiry order (the window is fixed), so stop at the first live one.
    for (const [key, entry] of this.#entries) {
      if (entry.expiresAt > now) break;
      this.#entries.delete(key);
    }
  }
}

function fingerprintOf(request: unknown): string {
  return createHash('sha256')
    .update(JSON.stringify(request) ?? '')
    .digest('base64url');
}
