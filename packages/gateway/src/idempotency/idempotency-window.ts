/**
 * Remembers invocations by idempotency key for a window, so a caller that
 * retries (after a dropped connection, a crash, a double click) gets the first
 * outcome instead of running the command twice. Bounded: past `maxEntries`
 * the oldest entries go first, expired ones before anything else.
 *
 * Pure bookkeeping with an injected clock; what an entry holds is up to the
 * broker (the in-flight invocation, then its settled outcome).
 *
 * Every key a busy gateway is asked for outlives a few young-generation
 * collections (10 000 keys are ~0.4 s of calls at 64 in flight), so
 * each object kept per key is copied twice before it dies in old space.
 * The window therefore keeps no object of its own per key: the order of
 * sets is three parallel arrays (key, entry, expiry as an unboxed double)
 * and the Map holds each key's position in them as a plain number.
 */
export class IdempotencyWindow<Entry> {
  /** Key → its position in the order, counted from the window's first set (`#base` + index). */
  readonly #positions = new Map<string, number>();
  /**
   * The order of sets, oldest at `#head`. A key replaced or forgotten
   * leaves an `undefined` in `#keys` until the front passes it. Expiry and
   * eviction take from the front rather than iterating the Map from its
   * start: V8 leaves a deleted Map entry as a hole until the table is
   * rebuilt, and every iteration from the start walks the holes, so a full
   * window (10 000 keys, one evicted per set) cost ~19 µs per set that way.
   */
  #keys: (string | undefined)[] = [];
  #entries: (Entry | undefined)[] = [];
  #expiresAt: number[] = [];
  /** The position of index 0 of the arrays: positions stay put when the arrays are trimmed. */
  #base = 0;
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
    return this.#positions.size;
  }

  /** Entries still held (some may have expired unnoticed), oldest first. */
  *values(): IterableIterator<Entry> {
    for (let i = this.#head; i < this.#keys.length; i++) {
      if (this.#keys[i] !== undefined) yield this.#entries[i] as Entry;
    }
  }

  get(key: string): Entry | undefined {
    const position = this.#positions.get(key);
    if (position === undefined) return undefined;
    const index = position - this.#base;
    if (this.#expiresAt[index]! <= this.#now()) {
      this.#forget(index);
      return undefined;
    }
    return this.#entries[index];
  }

  /** Stores (or replaces) `key`; the window starts now. Expired entries at the front go first. */
  set(key: string, entry: Entry): void {
    const now = this.#now();
    this.#expireFront(now);
    const replaced = this.#positions.get(key);
    if (replaced !== undefined) this.#forget(replaced - this.#base);
    this.#positions.set(key, this.#base + this.#keys.length);
    this.#keys.push(key);
    this.#entries.push(entry);
    this.#expiresAt.push(now + this.#windowMs());
    while (this.#positions.size > this.#maxEntries) this.#forget(this.#front());
    // Keys replaced over and over behind a long-lived front: keep the live
    // ones only, amortised over the pushes that grew the order.
    if (this.#keys.length - this.#head > 2 * this.#maxEntries + 1_024) this.#compact();
  }

  /**
   * Puts `next` where `key` holds `entry`, keeping its place and its expiry
   * (a call that ends is remembered for the window since it started). Not a
   * forget: `onForget` is not called for `entry`. Returns false, and
   * changes nothing, when `key` no longer holds `entry`.
   */
  replace(key: string, entry: Entry, next: Entry): boolean {
    const position = this.#positions.get(key);
    if (position === undefined) return false;
    const index = position - this.#base;
    if (this.#entries[index] !== entry) return false;
    this.#entries[index] = next;
    return true;
  }

  /** Forgets `key` if it still maps to `entry` (a newer entry under the same key stays). */
  delete(key: string, entry: Entry): void {
    const position = this.#positions.get(key);
    if (position === undefined) return;
    const index = position - this.#base;
    if (this.#entries[index] === entry) this.#forget(index);
  }

  #forget(index: number): void {
    this.#positions.delete(this.#keys[index]!);
    const entry = this.#entries[index] as Entry;
    this.#keys[index] = undefined;
    this.#entries[index] = undefined;
    this.#onForget?.(entry);
  }

  /** The index of the oldest entry still held (only called while one is), passing forgotten ones. */
  #front(): number {
    while (this.#keys[this.#head] === undefined) this.#head++;
    return this.#head;
  }

  /**
   * Gives back what expired, as traffic flows rather than only at the cap:
   * the front holds the oldest entries, so this stops at the first live one
   * (amortised O(1) per set). Also trims the order once most of it is behind
   * the front.
   */
  #expireFront(now: number): void {
    while (this.#positions.size > 0) {
      const index = this.#front();
      if (this.#expiresAt[index]! > now) break;
      this.#forget(index);
    }
    if (this.#positions.size === 0) {
      // Already empty (each key gone before the next was set): three empty copies a set otherwise.
      if (this.#keys.length > 0) this.#trim(this.#keys.length);
    } else if (this.#head > 1_024 && this.#head * 2 > this.#keys.length) {
      this.#trim(this.#head);
    }
  }

  /** Drops the first `count` indices (all forgotten) from the arrays. */
  #trim(count: number): void {
    this.#keys = this.#keys.slice(count);
    this.#entries = this.#entries.slice(count);
    this.#expiresAt = this.#expiresAt.slice(count);
    this.#base += count;
    this.#head = 0;
  }

  /** Rebuilds the order from the live entries only, in the same order, and renumbers them. */
  #compact(): void {
    const keys: string[] = [];
    const entries: Entry[] = [];
    const expiresAt: number[] = [];
    const base = this.#base + this.#keys.length;
    for (let i = this.#head; i < this.#keys.length; i++) {
      const key = this.#keys[i];
      if (key === undefined) continue;
      this.#positions.set(key, base + keys.length);
      keys.push(key);
      entries.push(this.#entries[i] as Entry);
      expiresAt.push(this.#expiresAt[i]!);
    }
    this.#keys = keys;
    this.#entries = entries;
    this.#expiresAt = expiresAt;
    this.#base = base;
    this.#head = 0;
  }
}
