/** Durable events one key may cause per window before the rest are live only. */
export const DURABLE_EVENTS_PER_WINDOW = 16;
export const DURABLE_EVENT_WINDOW_MS = 60_000;
/** Keys tracked at once before expired windows are swept (they are few: tokens and nodes). */
const SWEEP_AT = 1_024;

/**
 * How many durable events of one kind a credential may cause per minute.
 * The replay buffer is what every operator resumes from, so one credential
 * below admin (a read-only token, a paired node's key) connecting in a loop
 * must not push the rest of it out: past its share, its comings and goings
 * are live only (sent to whoever watches, never logged or replayed).
 */
export class DurableEventBudget {
  readonly #windows = new Map<string, { startedAt: number; used: number }>();

  /** Whether `key` may cause one more durable event now; counts it if so. */
  take(key: string, now = Date.now()): boolean {
    let window = this.#windows.get(key);
    if (!window || now - window.startedAt >= DURABLE_EVENT_WINDOW_MS) {
      if (!window && this.#windows.size >= SWEEP_AT) this.#sweep(now);
      window = { startedAt: now, used: 0 };
      this.#windows.set(key, window);
    }
    if (window.used >= DURABLE_EVENTS_PER_WINDOW) return false;
    window.used++;
    return true;
  }

  #sweep(now: number): void {
    for (const [key, window] of this.#windows)
      if (now - window.startedAt >= DURABLE_EVENT_WINDOW_MS) this.#windows.delete(key);
  }
}
