/** How long to wait between reconnect attempts. */
export type BackoffOptions = {
  /** Upper bound of the first attempt's delay; each later attempt doubles it. */
  baseMs: number;
  /** No delay is ever longer than this. */
  capMs: number;
};

export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 250, capMs: 10_000 };

/**
 * Full-jitter exponential backoff: a uniform pick in
 * `[0, min(cap, base * 2^attempt))`. Every attempt is jittered, the first one
 * too, so a fleet of clients dropped by one gateway restart spreads its
 * reconnects out instead of arriving in the same instant (tRPC's stock
 * backoff — 0, 2, 4 … s — brought 200 clients back within 100 ms).
 *
 * @param attempt 0 for the first retry after a drop, 1 for the next, …
 * @param random  a source of uniform numbers in [0, 1), injectable for tests
 */
export function nextReconnectDelay(
  attempt: number,
  random: () => number = Math.random,
  options: BackoffOptions = DEFAULT_BACKOFF,
): number {
  const exponent = Math.min(Math.max(0, Math.floor(attempt)), 30);
  const ceiling = Math.min(options.capMs, options.baseMs * 2 ** exponent);
  return Math.floor(random() * ceiling);
}
