import { GatewayError, type PendingPairRequest } from '@loopgate/protocol';
import { newId } from './node-tokens.js';

export type PairDecision =
  | { status: 'approved'; nodeId: string }
  | { status: 'rejected'; reason?: string }
  | { status: 'expired' };

export type PendingRequest = {
  requestId: string;
  name: string;
  platform: string;
  version: string | undefined;
  commands: string[];
  /** SHA-256 of the node's pairing key: how a reconnecting node finds its request again. */
  keyHash: string;
  remoteAddress: string;
  requestedAt: number;
  expiresAt: number;
  /** Connections currently waiting for the decision. */
  waiting: Set<string>;
  decision: Promise<PairDecision>;
};

type Entry = PendingRequest & { decide: (decision: PairDecision) => void; timer: NodeJS.Timeout };

export type PairingRequestsOptions = {
  ttlMs: () => number;
  maxPending: () => number;
  onExpired: (request: PendingRequest) => void;
  now?: () => number;
};

/** Keys rejected recently, so a node that retries at once is told "rejected" again. */
const REMEMBERED_REJECTIONS = 1_024;

/**
 * Pairing requests waiting for an operator: capped in number, each expiring
 * after `pendingTtlMs`. In memory only — after a gateway restart a node that
 * still waits simply asks again (its key lets it collect a token approved
 * before the restart, which the node registry persists).
 */
export class PairingRequests {
  readonly #entries = new Map<string, Entry>();
  readonly #rejected = new Map<string, { reason: string | undefined; until: number }>();
  readonly #opts: PairingRequestsOptions;
  readonly #now: () => number;

  constructor(options: PairingRequestsOptions) {
    this.#opts = options;
    this.#now = options.now ?? Date.now;
  }

  get size(): number {
    return this.#entries.size;
  }

  list(): PendingPairRequest[] {
    return [...this.#entries.values()].map(describePending);
  }

  all(): PendingRequest[] {
    return [...this.#entries.values()];
  }

  /** By request id, or by node name (case-insensitive). */
  find(ref: string): PendingRequest | undefined {
    const byId = this.#entries.get(ref);
    if (byId) return byId;
    const lower = ref.toLowerCase();
    for (const entry of this.#entries.values())
      if (entry.name.toLowerCase() === lower) return entry;
    return undefined;
  }

  findByKeyHash(keyHash: string): PendingRequest | undefined {
    for (const entry of this.#entries.values()) if (entry.keyHash === keyHash) return entry;
    return undefined;
  }

  add(input: {
    name: string;
    platform: string;
    version: string | undefined;
    commands: string[];
    keyHash: string;
    remoteAddress: string;
  }): PendingRequest {
    const max = this.#opts.maxPending();
    if (this.#entries.size >= max) {
      throw new GatewayError(
        'LIMIT_EXCEEDED',
        `too many pairing requests are waiting (gateway.nodes.maxPending = ${max}); try again later`,
      );
    }
    const now = this.#now();
    const ttl = this.#opts.ttlMs();
    let decide!: (decision: PairDecision) => void;
    const decision = new Promise<PairDecision>((resolve) => {
      decide = resolve;
    });
    const entry: Entry = {
      ...input,
      requestId: newId('pr'),
      requestedAt: now,
      expiresAt: now + ttl,
      waiting: new Set(),
      decision,
      decide,
      timer: setTimeout(() => this.#expire(entry), ttl),
    };
    entry.timer.unref();
    this.#entries.set(entry.requestId, entry);
    return entry;
  }

  /** Settles a request for everyone waiting on it and forgets it. */
  decide(request: PendingRequest, decision: PairDecision): void {
    const entry = this.#entries.get(request.requestId);
    if (!entry) return;
    clearTimeout(entry.timer);
    this.#entries.delete(entry.requestId);
    if (decision.status === 'rejected') this.#rememberRejection(entry.keyHash, decision.reason);
    entry.decide(decision);
  }

  /** A rejection of this key that is still fresh, if any. */
  rejection(keyHash: string): { reason: string | undefined } | undefined {
    const found = this.#rejected.get(keyHash);
    if (!found) return undefined;
    if (found.until <= this.#now()) {
      this.#rejected.delete(keyHash);
      return undefined;
    }
    return { reason: found.reason };
  }

  close(): void {
    for (const entry of this.#entries.values()) {
      clearTimeout(entry.timer);
      entry.decide({ status: 'expired' });
    }
    this.#entries.clear();
  }

  #expire(entry: Entry): void {
    if (!this.#entries.has(entry.requestId)) return;
    this.decide(entry, { status: 'expired' });
    this.#opts.onExpired(entry);
  }

  #rememberRejection(keyHash: string, reason: string | undefined): void {
    this.#rejected.delete(keyHash);
    this.#rejected.set(keyHash, { reason, until: this.#now() + this.#opts.ttlMs() });
    for (const key of this.#rejected.keys()) {
      if (this.#rejected.size <= REMEMBERED_REJECTIONS) break;
      this.#rejected.delete(key);
    }
  }
}

export function describePending(request: PendingRequest): PendingPairRequest {
  return {
    requestId: request.requestId,
    name: request.name,
    platform: request.platform,
    ...(request.version !== undefined ? { version: request.version } : {}),
    commands: request.commands,
    remoteAddress: request.remoteAddress,
    requestedAt: request.requestedAt,
    expiresAt: request.expiresAt,
    waiting: request.waiting.size > 0,
  };
}
