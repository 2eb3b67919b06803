import { isIP } from 'node:net';

/**
 * Failed-authentication limiter: after `maxFailures` failures within
 * `windowMs` from one address, that address is locked out for `lockoutMs`.
 * Pure bookkeeping with the clock passed in, so the transport (upgrade
 * admission) and the auth check share one instance and tests need no timers.
 *
 * Loopback callers are exempt only when no browser `Origin` is present: a
 * page in the user's own browser also arrives from 127.0.0.1, and is exactly
 * the brute-force source this limiter exists for. A request proxied onto
 * loopback (Tailscale Serve) is not exempt either.
 *
 * IPv6 callers are keyed by their /64: one host usually owns a whole /64 and
 * could otherwise rotate addresses to dodge the limit.
 */

export type RateLimitPolicy = {
  maxFailures: number;
  windowMs: number;
  lockoutMs: number;
  /** Addresses tracked at most; beyond it expired entries go first, then the oldest. */
  maxTrackedAddresses?: number | undefined;
};

export type AttemptSource = {
  address: string;
  isLoopback: boolean;
  /** A browser `Origin` header was present (or the request came through a proxy on loopback). */
  hasOrigin: boolean;
};

export type RateLimitDecision = { allowed: true } | { allowed: false; retryAfterMs: number };

export const DEFAULT_RATE_LIMIT: RateLimitPolicy = {
  maxFailures: 10,
  windowMs: 60_000,
  lockoutMs: 5 * 60_000,
};
const DEFAULT_MAX_TRACKED = 10_000;

type Entry = {
  /** Failure times within the current window, oldest first; never longer than maxFailures. */
  failures: number[];
  lockedUntil: number;
};

export class FailedAttemptLimiter {
  readonly policy: Required<RateLimitPolicy>;
  readonly #entries = new Map<string, Entry>();

  constructor(policy: RateLimitPolicy = DEFAULT_RATE_LIMIT) {
    this.policy = {
      ...policy,
      maxTrackedAddresses: policy.maxTrackedAddresses ?? DEFAULT_MAX_TRACKED,
    };
  }

  /** Whether `source` may try to authenticate now. */
  check(source: AttemptSource, now: number): RateLimitDecision {
    if (isExempt(source)) return { allowed: true };
    const entry = this.#entries.get(addressKey(source.address));
    if (entry && entry.lockedUntil > now)
      return { allowed: false, retryAfterMs: entry.lockedUntil - now };
    return { allowed: true };
  }

  /** Counts one failure; returns the decision for the next attempt (locked once the limit is reached). */
  recordFailure(source: AttemptSource, now: number): RateLimitDecision {
    if (isExempt(source)) return { allowed: true };
    const key = addressKey(source.address);
    let entry = this.#entries.get(key);
    if (entry && entry.lockedUntil > now)
      return { allowed: false, retryAfterMs: entry.lockedUntil - now };
    if (!entry) {
      this.#makeRoom(now);
      entry = { failures: [], lockedUntil: 0 };
    } else {
      // Re-insert so Map order stays "least recently active first" for eviction.
      this.#entries.delete(key);
    }
    this.#entries.set(key, entry);
    const windowStart = now - this.policy.windowMs;
    entry.failures = entry.failures.filter((t) => t > windowStart);
    entry.failures.push(now);
    if (entry.failures.length >= this.policy.maxFailures) {
      entry.failures = [];
      entry.lockedUntil = now + this.policy.lockoutMs;
      return { allowed: false, retryAfterMs: this.policy.lockoutMs };
    }
    return { allowed: true };
  }

  /** A successful authentication clears the address's failures (but not an active lockout, which `check` already refused). */
  recordSuccess(source: AttemptSource, now: number): void {
    const key = addressKey(source.address);
    const entry = this.#entries.get(key);
    if (entry && entry.lockedUntil <= now) this.#entries.delete(key);
  }

  /** Drops entries with no lockout and no failure inside the window. */
  prune(now: number): void {
    for (const [key, entry] of this.#entries) {
      if (isExpired(entry, now, this.policy.windowMs)) this.#entries.delete(key);
    }
  }

  /** Addresses currently tracked (for tests and `status`). */
  get trackedAddresses(): number {
    return this.#entries.size;
  }

  #makeRoom(now: number): void {
    if (this.#entries.size < this.policy.maxTrackedAddresses) return;
    this.prune(now);
    for (const key of this.#entries.keys()) {
      if (this.#entries.size < this.policy.maxTrackedAddresses) break;
      this.#entries.delete(key);
    }
  }
}

function isExempt(source: AttemptSource): boolean {
  return source.isLoopback && !source.hasOrigin;
}

function isExpired(entry: Entry, now: number, windowMs: number): boolean {
  if (entry.lockedUntil > now) return false;
  const last = entry.failures.at(-1);
  return last === undefined || last <= now - windowMs;
}

/** The identity an attempt is counted under: IPv4 as is, IPv6 by its /64. */
export function addressKey(address: string): string {
  const addr = address.toLowerCase();
  if (addr.startsWith('::ffff:') && isIP(addr.slice(7)) === 4) return addr.slice(7);
  if (isIP(addr) !== 6) return addr;
  return `${expandIpv6(addr).slice(0, 4).join(':')}::/64`;
}

function expandIpv6(addr: string): string[] {
  const withoutZone = addr.split('%')[0] ?? addr;
  const [head = '', tail] = withoutZone.split('::') as [string, string | undefined];
  const headParts = head ? head.split(':') : [];
  const tailParts = tail ? tail.split(':') : [];
  const missing = 8 - headParts.length - tailParts.length;
  const parts =
    tail === undefined
      ? headParts
      : [...headParts, ...Array<string>(missing).fill('0'), ...tailParts];
  return parts.map((p) => (p.includes('.') ? p : p.replace(/^0+(?=.)/, '')));
}
