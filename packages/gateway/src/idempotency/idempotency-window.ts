/**
 * Remembers invocations by idempotency key for a window, so a caller that
 * retries (after a dropped connection, a crash, a double click) gets the first
 * outcome instead of running the command twice. Bounded: past `maxEntries`
 * the oldest entries go first, expired ones before anything else.
 *
 * Pure bookkeeping with an injected clock; what an entry holds is up to the
 * broker (the in-flight invocation, then its settled outcome).
 */
export class IdempotencyWindow<Entry> {
  readonly #entries = new Map<string, { entry: Entry; expiresAt: number }>();
  readonly #windowMs: () => number;
  readonly #maxEntries: number;
  readonly #now: () => number;
  readonly #onForget: ((entry: Entry) => void) | undefined;

  constructor(options: {
    windowMs: () => number;
    maxEntries: number;
    now: () => number;
    /** Called for every entry the window lets go of (expired, evicted, replaced or deleted). */
    onForget?: (entry: Entry) => void;
  }) {
    this.#windowMs = options.windowMs;
    this.#maxEntries = options.maxEntries;
    this.#now = options.now;
    this.#onForget = options.onForget;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Entries still held (some may have expired unnoticed), oldest first. */
  *values(): IterableIterator<Entry> {
    for (const { entry } of this.#entries.values()) yield entry;
  }

  get(key: string): Entry | undefined {
    const found = this.#entries.get(key);
    if (!found) return undefined;
    if (found.expiresAt <= this.#now()) {
      this.#forget(key, found.entry);
      return undefined;
    }
    return found.entry;
  }

  /** Stores (or replaces) `key`; the window starts now. Expired entries at the front go first. */
  set(key: string, entry: Entry): void {
    const now = this.#now();
    this.#expireFront(now);
    const replaced = this.#entries.get(key);
    if (replaced) this.#forget(key, replaced.entry);
    this.#entries.set(key, { entry, expiresAt: now + this.#windowMs() });
    if (this.#entries.size > this.#maxEntries) this.#evict();
  }

  /** Forgets `key` if it still maps to `entry` (a newer entry under the same key stays). */
  delete(key: string, entry: Entry): void {
    if (this.#entries.get(key)?.entry === entry) this.#forget(key, entry);
  }

  #forget(key: string, entry: Entry): void {
    this.#entries.delete(key);
    this.#onForget?.(entry);
  }

  /**
   * Gives back what expired, as traffic flows rather than only at the cap:
   * the front holds the oldest entries, so this stops at the first live one
   * (amortised O(1) per set).
   */
  #expireFront(now: number): void {
    for (const [key, value] of this.#entries) {
      if (value.expiresAt > now) break;
      this.#forget(key, value.entry);
    }
  }

  #evict(): void {
    // Map iteration is insertion order and every set() re-inserts at the end,
    // so the front holds the oldest (and soonest expiring) entries.
    const now = this.#now();
    for (const [key, value] of this.#entries) {
      if (this.#entries.size <= this.#maxEntries && value.expiresAt > now) break;
      this.#forget(key, value.entry);
    }
  }
}
