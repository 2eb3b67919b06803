/** Nearest-rank percentile of an unsorted sample (`p` in 0..100); NaN when empty. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * Latency samples kept in a preallocated typed array so recording one costs
 * a store, not an allocation (the bench process is also a measured client).
 */
export class LatencyRecorder {
  #values: Float64Array;
  #length = 0;

  constructor(capacity = 1 << 16) {
    this.#values = new Float64Array(capacity);
  }

  record(ms: number): void {
    if (this.#length === this.#values.length) {
      const grown = new Float64Array(this.#values.length * 2);
      grown.set(this.#values);
      this.#values = grown;
    }
    this.#values[this.#length++] = ms;
  }

  get count(): number {
    return this.#length;
  }

  /** p50/p99 in ms over everything recorded. */
  summary(): { p50: number; p99: number } {
    const sorted = this.#values.subarray(0, this.#length).slice().sort();
    if (sorted.length === 0) return { p50: Number.NaN, p99: Number.NaN };
    const at = (p: number) =>
      sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
    return { p50: at(50), p99: at(99) };
  }
}
