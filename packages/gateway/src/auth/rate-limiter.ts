import { isIP } from 'node:net';

/**
 * Failed-authentication limiter: after `maxFailures` failures within
 * `windowMs` from one address, that address is locked out for `lockoutMs`.
 * Pure bookkeeping with the clock passed in, so the transport (upgrade
 * admission) and the auth check share one instance and tests need no timers.
 *
 * Local processes (loopback, no browser `Origin`, not proxied) share one
 * loopback bucket with its own, higher threshold (`policy.loopback`): every
 * SSH-tunnelled caller and every local process arrives from 127.0.0.1, so
 * they cannot be told apart by address, and a mistyped token must not lock
 * the operator out for long. While it is locked, NEW connections from
 * loopback are refused even with the right credential — letting the right
 * one through would tell a guesser when it found it — but connections that
 * already authenticated are never touched by the limiter. A browser page or a
 * proxied request on loopback counts under the main policy, in one bucket for
 * all of 127.0.0.0/8 and ::1: a local process can pick any of those as its
 * source address, so counting them apart would give it 10 guesses per address.
 *
 * A success never clears failures. Whoever succeeds may not be whoever
 * failed (a shared address), and a success may prove much less than what
 * is being guessed: a node key made up on the spot, or an operator.read
 * token while the admin password is the target. Failures age out of the window.
 *
 * IPv6 callers are keyed by their /64: one host usually owns a whole /64 and
 * could otherwise rotate addresses to dodge the limit.
 */

export type LockoutPolicy = {
  maxFailures: number;
  windowMs: number;
  lockoutMs: number;
};

export type RateLimitPolicy = LockoutPolicy & {
  /** The shared bucket of local processes; default 30 failures per 60 s, 60 s lockout. */
  loopback?: LockoutPolicy | undefined;
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

export const DEFAULT_LOOPBACK_RATE_LIMIT: LockoutPolicy = {
  maxFailures: 30,
  windowMs: 60_000,
  lockoutMs: 60_000,
};

export const DEFAULT_RATE_LIMIT: RateLimitPolicy = {
  maxFailures: 10,
  windowMs: 60_000,
  lockoutMs: 5 * 60_000,
  loopback: DEFAULT_LOOPBACK_RATE_LIMIT,
};

/** The key of the shared bucket; never a valid address, so it cannot collide with one. */
const LOOPBACK_BUCKET = 'loopback';
/** Browser pages and proxied requests arriving on any loopback address (main policy). */
const LOOPBACK_FORWARDED_BUCKET = 'loopback-forwarded';
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
      loopback: policy.loopback ?? DEFAULT_LOOPBACK_RATE_LIMIT,
      maxTrackedAddresses: policy.maxTrackedAddresses ?? DEFAULT_MAX_TRACKED,
    };
  }

  /** Whether `source` may try to authenticate now. */
  check(source: AttemptSource, now: number): RateLimitDecision {
    const entry = this.#entries.get(bucketKey(source));
    if (entry && entry.lockedUntil > now)
      return { allowed: false, retryAfterMs: entry.lockedUntil - now };
    return { allowed: true };
  }

  /** Counts one failure; returns the decision for the next attempt (locked once the limit is reached). */
  recordFailure(source: AttemptSource, now: number): RateLimitDecision {
    const key = bucketKey(source);
    const policy = key === LOOPBACK_BUCKET ? this.policy.loopback : this.policy;
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
    const windowStart = now - policy.windowMs;
    entry.failures = entry.failures.filter((t) => t > windowStart);
    entry.failures.push(now);
    if (entry.failures.length >= policy.maxFailures) {
      entry.failures = [];
      entry.lockedUntil = now + policy.lockoutMs;
      return { allowed: false, retryAfterMs: policy.lockoutMs };
    }
    return { allowed: true };
  }

  /** Drops entries with no lockout and no failure inside the window. */
  prune(now: number): void {
    for (const [key, entry] of this.#entries) {
      const windowMs =
        key === LOOPBACK_BUCKET ? this.policy.loopback.windowMs : this.policy.windowMs;
      if (isExpired(entry, now, windowMs)) this.#entries.delete(key);
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

/** Local processes share the loopback bucket; everyone else counts by address (IPv6 by /64). */
function bucketKey(source: AttemptSource): string {
  if (source.isLoopback) return source.hasOrigin ? LOOPBACK_FORWARDED_BUCKET : LOOPBACK_BUCKET;
  return addressKey(source.address);
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
