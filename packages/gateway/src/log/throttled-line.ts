/**
 * One kind of log line that a peer without a credential can cause at will
 * (an unsigned webhook POST, a message from a chat nobody allowed): written
 * at most once per interval, each line carrying `refused`, the number of
 * occurrences it stands for, so a flood costs a few lines instead of filling
 * the disk, and nothing goes uncounted.
 */
export class ThrottledLine<T extends object> {
  readonly #intervalMs: number;
  readonly #write: (fields: T & { refused: number }) => void;
  readonly #now: () => number;
  #lastWrittenAt = Number.NEGATIVE_INFINITY;
  #heldBack = 0;
  #lastFields: T | undefined;

  constructor(
    write: (fields: T & { refused: number }) => void,
    options: { intervalMs?: number; now?: () => number } = {},
  ) {
    this.#write = write;
    this.#intervalMs = options.intervalMs ?? 10_000;
    this.#now = options.now ?? Date.now;
  }

  /** Counts one occurrence; writes it (with those held back) when the interval has passed. */
  note(fields: T): void {
    const now = this.#now();
    if (now - this.#lastWrittenAt < this.#intervalMs) {
      this.#heldBack++;
      this.#lastFields = fields;
      return;
    }
    this.#lastWrittenAt = now;
    const refused = this.#heldBack + 1;
    this.#heldBack = 0;
    this.#write({ ...fields, refused });
  }

  /** Writes what is held back (on stop), described by the last occurrence's fields. */
  flush(): void {
    if (this.#heldBack === 0 || this.#lastFields === undefined) return;
    const refused = this.#heldBack;
    this.#heldBack = 0;
    this.#lastWrittenAt = this.#now();
    this.#write({ ...this.#lastFields, refused });
  }
}
