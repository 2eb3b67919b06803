import type { InboundAccepted } from '../channel.js';
import { SIGNATURE_TOLERANCE_SEC } from './signature.js';

/** Signed requests remembered at most; each needs the secret to create, so this bounds memory, not abuse. */
export const MAX_REMEMBERED_SIGNATURES = 10_000;

export type ReplayOutcome =
  /** `replayed`: the signature was accepted before inside its window; this is the first run's outcome. */
  | { kind: 'run' | 'replayed'; accepted: Promise<InboundAccepted> }
  /** Too many live signatures: refused rather than forgetting one, which would reopen its replay. */
  | { kind: 'full'; retryAfterSec: number };

type Remembered = { expiresAtMs: number; accepted: Promise<InboundAccepted> };

/**
 * Remembers every accepted webhook signature until its timestamp leaves the
 * acceptance window, so the same signed request starts at most one agent run
 * whether or not its body carries an `id`. The signature is an HMAC over the
 * timestamp and body, so it names the request exactly. Only requests whose
 * signature verified reach this, so filling it takes the secret.
 */
export class WebhookReplayGuard {
  readonly #seen = new Map<string, Remembered>();
  readonly #max: number;

  constructor(maxEntries = MAX_REMEMBERED_SIGNATURES) {
    this.#max = maxEntries;
  }

  /** Runs `run` the first time `signature` is seen; a replay (even one still in flight) shares that outcome. */
  admit(
    signature: string,
    timestampSec: number,
    nowMs: number,
    run: () => Promise<InboundAccepted>,
  ): ReplayOutcome {
    const known = this.#seen.get(signature);
    if (known && known.expiresAtMs > nowMs) return { kind: 'replayed', accepted: known.accepted };
    if (this.#seen.size >= this.#max) {
      this.#prune(nowMs);
      if (this.#seen.size >= this.#max) {
        let soonest = Number.POSITIVE_INFINITY;
        for (const entry of this.#seen.values()) soonest = Math.min(soonest, entry.expiresAtMs);
        return { kind: 'full', retryAfterSec: Math.max(1, Math.ceil((soonest - nowMs) / 1000)) };
      }
    }
    const entry: Remembered = {
      expiresAtMs: (timestampSec + SIGNATURE_TOLERANCE_SEC) * 1000,
      accepted: run(),
    };
    this.#seen.set(signature, entry);
    // A request that was not accepted (limits, shutdown) may be retried as it is.
    entry.accepted.catch(() => {
      if (this.#seen.get(signature) === entry) this.#seen.delete(signature);
    });
    return { kind: 'run', accepted: entry.accepted };
  }

  /** Signatures remembered now (for tests and status). */
  get size(): number {
    return this.#seen.size;
  }

  #prune(nowMs: number): void {
    for (const [signature, entry] of this.#seen) {
      if (entry.expiresAtMs <= nowMs) this.#seen.delete(signature);
    }
  }
}
