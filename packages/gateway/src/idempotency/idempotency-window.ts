/**
 * Remembers invocations by idempotency key for a window, so a caller that
 * retries (after a dropped connection, a crash, a double click) gets the first
 * outcome instead of running the command twice. Bounded: past `maxEntries`
 * the oldest entries go first, expired ones before anything else.
 *
 * Pure bookkeeping with an injected clock; what an entry holds is up to the
 * broker (the in-flight invocation, then its settled outcome).
 */
type Slot<Entry> = { readonly key: string; readonly entry: Entry; readonly expiresAt: number };

export class IdempotencyWindow<Entry> {
  readonly #entries = new Map<string, Slot<Entry>>();
  /**
   * Slots in the order they were set, oldest at `#head`; a slot whose key
   * was replaced or forgotten stays until the front reaches it. Expiry and
   * eviction take from here rather than iterating the Map from its start:
   * V8 leaves a deleted Map entry as a hole until the table is rebuilt, and
   * every iteration from the start walks the holes, so a full window
   * (10 000 keys, one evicted per set) cost ~19 µs per set that way.
   */
  #order: Slot<Entry>[] = [];
  #head = 0;
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
    for (let i = this.#head; i < this.#order.length; i++) {
      const slot = this.#order[i]!;
      if (this.#entries.get(slot.key) === slot) yield slot.entry;
    }
  }

  get(key: string): Entry | undefined {
    const found = this.#entries.get(key);
    if (!found) return undefined;
    if (found.expiresAt <= this.#now()) {
      this.#forget(found);
      return undefined;
    }
    return found.entry;
  }

  /** Stores (or replaces) `key`; the window starts now. Expired entries at the front go first. */
  set(key: string, entry: Entry): void {
    const now = this.#now();
    this.#expireFront(now);
    const replaced = this.#entries.get(key);
    if (replaced) this.#forget(replaced);
    const slot: Slot<Entry> = { key, entry, expiresAt: now + this.#windowMs() };
    this.#entries.set(key, slot);
    this.#order.push(slot);
    while (this.#entries.size > this.#maxEntries) this.#forget(this.#front()!);
    // Keys replaced over and over behind a long-lived front: rebuild from the
    // Map (same order, live slots only), amortised over the pushes that grew it.
    if (this.#order.length - this.#head > 2 * this.#maxEntries + 1_024) {
      this.#order = [...this.#entries.values()];
      this.#head = 0;
    }
  }

  /** Forgets `key` if it still maps to `entry` (a newer entry under the same key stays). */
  delete(key: string, entry: Entry): void {
    const slot = this.#entries.get(key);
    if (slot?.entry === entry) this.#forget(slot);
  }

  #forget(slot: Slot<Entry>): void {
    this.#entries.delete(slot.key);
    this.#onForget?.(slot.entry);
  }

  /** The oldest slot still held, dropping forgotten ones from the front of the order. */
  #front(): Slot<Entry> | undefined {
    const order = this.#order;
    while (this.#head < order.length) {
      const slot = order[this.#head]!;
      if (this.#entries.get(slot.key) === slot) return slot;
      this.#head++;
    }
    this.#order = [];
    this.#head = 0;
    return undefined;
  }

  /**
   * Gives back what expired, as traffic flows rather than only at the cap:
   * the front holds the oldest entries, so this stops at the first live one
   * (amortised O(1) per set). Also trims the order once most of it is behind
   * the front.
   */
  #expireFront(now: number): void {
    for (let slot = this.#front(); slot && slot.expiresAt <= now; slot = this.#front()) {
      this.#forget(slot);
    }
    if (this.#head > 1_024 && this.#head * 2 > this.#order.length) {
      this.#order = this.#order.slice(this.#head);
      this.#head = 0;
    }
  }
}
