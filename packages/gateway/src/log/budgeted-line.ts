/**
 * One kind of log line a stranger can cause at a bounded but endless rate
 * (a pairing request under a key made up on the spot, its lapse): the first
 * `perWindow` in each window are written as they come, with their own
 * fields; past that they are counted, and the next line written carries the
 * count as `heldBack`. `flush()` (at stop) writes what is still held back,
 * so nothing goes uncounted.
 */
export class BudgetedLine<T extends object> {
  readonly #write: (fields: T & { heldBack?: number }) => void;
  readonly #perWindow: number;
  readonly #windowMs: number;
  readonly #now: () => number;
  #windowStartedAt = Number.NEGATIVE_INFINITY;
  #written = 0;
  #heldBack = 0;
  #lastFields: T | undefined;

  constructor(
    write: (fields: T & { heldBack?: number }) => void,
    options: { perWindow?: number; windowMs?: number; now?: () => number } = {},
  ) {
    this.#write = write;
    this.#perWindow = options.perWindow ?? 16;
    this.#windowMs = options.windowMs ?? 60_000;
    this.#now = options.now ?? Date.now;
  }

  note(fields: T): void {
    const now = this.#now();
    if (now - this.#windowStartedAt >= this.#windowMs) {
      this.#windowStartedAt = now;
      this.#written = 0;
    }
    if (this.#written >= this.#perWindow) {
      this.#heldBack++;
      this.#lastFields = fields;
      return;
    }
    this.#written++;
    const heldBack = this.#heldBack;
    this.#heldBack = 0;
    this.#write(heldBack > 0 ? { ...fields, heldBack } : fields);
  }

  /** Writes what is held back, described by the last held-back occurrence's fields. */
  flush(): void {
    if (this.#heldBack === 0 || this.#lastFields === undefined) return;
    const heldBack = this.#heldBack;
    this.#heldBack = 0;
    // the last occurrence is one of those counted: the line stands for the rest
    this.#write({ ...this.#lastFields, heldBack: heldBack - 1 });
  }
}
