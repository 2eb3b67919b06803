import {
  GatewayError,
  normalizePairingCode,
  type PendingPairRequest,
  pairingCodeOf,
} from '@loopgate/protocol';
import { newId } from './node-ids.js';

export type PairDecision =
  | { status: 'approved'; nodeId: string }
  | { status: 'rejected'; reason?: string }
  | { status: 'expired' }
  | { status: 'withdrawn' };

export type PendingRequest = {
  requestId: string;
  name: string;
  platform: string;
  version: string | undefined;
  commands: string[];
  /** The node's Ed25519 public key, proven by its socket: how a reconnecting node finds its request again. */
  publicKey: string;
  pairingCode: string;
  /** Another key asked for the same name while this request was pending. */
  contested: boolean;
  remoteAddress: string;
  requestedAt: number;
  expiresAt: number;
  /** Connections currently waiting for the decision. */
  waiting: Set<string>;
  decision: Promise<PairDecision>;
};

type Entry = PendingRequest & {
  decide: (decision: PairDecision) => void;
  timer: NodeJS.Timeout;
  graceTimer: NodeJS.Timeout | undefined;
};

export type PairingRequestsOptions = {
  limits: () => {
    pendingTtlMs: number;
    maxPending: number;
    maxPendingPerAddress: number;
    pendingGraceMs: number;
  };
  /** A request ended without an operator: its TTL ran out, or its node went away. */
  onLapsed: (request: PendingRequest, decision: 'expired' | 'withdrawn') => void;
  now?: () => number;
};

/** Keys rejected recently, so a node that retries at once is told "rejected" again. */
const REMEMBERED_REJECTIONS = 1_024;

/**
 * Pairing requests waiting for an operator: capped in total and per address,
 * each expiring after `pendingTtlMs`, and withdrawn `pendingGraceMs` after
 * the last socket waiting on it closed (a node that reconnects within the
 * grace keeps its request). In memory only — after a gateway restart a node
 * that still waits simply asks again.
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

  byId(requestId: string): PendingRequest | undefined {
    return this.#entries.get(requestId);
  }

  byCode(text: string): PendingRequest | undefined {
    const code = normalizePairingCode(text);
    if (code === undefined) return undefined;
    for (const entry of this.#entries.values()) if (entry.pairingCode === code) return entry;
    return undefined;
  }

  /** Every pending request for this name (case-insensitive). */
  byName(name: string): PendingRequest[] {
    const lower = name.toLowerCase();
    return [...this.#entries.values()].filter((e) => e.name.toLowerCase() === lower);
  }

  byKey(publicKey: string): PendingRequest | undefined {
    for (const entry of this.#entries.values()) if (entry.publicKey === publicKey) return entry;
    return undefined;
  }

  add(input: {
    name: string;
    platform: string;
    version: string | undefined;
    commands: string[];
    publicKey: string;
    remoteAddress: string;
  }): PendingRequest {
    const limits = this.#opts.limits();
    if (this.#entries.size >= limits.maxPending) {
      throw new GatewayError(
        'LIMIT_EXCEEDED',
        `too many pairing requests are waiting (gateway.nodes.maxPending = ${limits.maxPending}); try again later`,
      );
    }
    let fromAddress = 0;
    for (const entry of this.#entries.values())
      if (entry.remoteAddress === input.remoteAddress) fromAddress++;
    if (fromAddress >= limits.maxPendingPerAddress) {
      throw new GatewayError(
        'LIMIT_EXCEEDED',
        `too many pairing requests are waiting from ${input.remoteAddress} (gateway.nodes.maxPendingPerAddress = ${limits.maxPendingPerAddress}); try again later`,
      );
    }
    const now = this.#now();
    let decide!: (decision: PairDecision) => void;
    const decision = new Promise<PairDecision>((resolve) => {
      decide = resolve;
    });
    const rivals = this.byName(input.name);
    const entry: Entry = {
      ...input,
      requestId: newId('pr'),
      pairingCode: pairingCodeOf(input.publicKey),
      contested: rivals.length > 0,
      requestedAt: now,
      expiresAt: now + limits.pendingTtlMs,
      waiting: new Set(),
      decision,
      decide,
      timer: setTimeout(() => this.#lapse(entry, 'expired'), limits.pendingTtlMs),
      graceTimer: undefined,
    };
    entry.timer.unref();
    for (const rival of rivals) rival.contested = true;
    this.#entries.set(entry.requestId, entry);
    return entry;
  }

  /** A socket waits on this request: it no longer lapses for want of its node. */
  wait(request: PendingRequest, connectionId: string): void {
    const entry = this.#entries.get(request.requestId);
    if (!entry) return;
    entry.waiting.add(connectionId);
    clearTimeout(entry.graceTimer);
    entry.graceTimer = undefined;
  }

  /** The socket stopped waiting (closed, or its subscription ended). */
  stopWaiting(connectionId: string): void {
    for (const entry of this.#entries.values()) {
      if (!entry.waiting.delete(connectionId) || entry.waiting.size > 0) continue;
      clearTimeout(entry.graceTimer);
      entry.graceTimer = setTimeout(
        () => this.#lapse(entry, 'withdrawn'),
        this.#opts.limits().pendingGraceMs,
      );
      entry.graceTimer.unref();
    }
  }

  /** Settles a request for everyone waiting on it and forgets it. */
  decide(request: PendingRequest, decision: PairDecision): void {
    const entry = this.#entries.get(request.requestId);
    if (!entry) return;
    clearTimeout(entry.timer);
    clearTimeout(entry.graceTimer);
    this.#entries.delete(entry.requestId);
    if (decision.status === 'rejected') this.#rememberRejection(entry.publicKey, decision.reason);
    entry.decide(decision);
  }

  /** A rejection of this key that is still fresh, if any. */
  rejection(publicKey: string): { reason: string | undefined } | undefined {
    const found = this.#rejected.get(publicKey);
    if (!found) return undefined;
    if (found.until <= this.#now()) {
      this.#rejected.delete(publicKey);
      return undefined;
    }
    return { reason: found.reason };
  }

  close(): void {
    for (const entry of this.#entries.values()) {
      clearTimeout(entry.timer);
      clearTimeout(entry.graceTimer);
      entry.decide({ status: 'expired' });
    }
    this.#entries.clear();
  }

  #lapse(entry: Entry, decision: 'expired' | 'withdrawn'): void {
    if (!this.#entries.has(entry.requestId)) return;
    this.decide(entry, { status: decision });
    this.#opts.onLapsed(entry, decision);
  }

  #rememberRejection(publicKey: string, reason: string | undefined): void {
    this.#rejected.delete(publicKey);
    this.#rejected.set(publicKey, {
      reason,
      until: this.#now() + this.#opts.limits().pendingTtlMs,
    });
    for (const key of this.#rejected.keys()) {
      if (this.#rejected.size <= REMEMBERED_REJECTIONS) break;
      this.#rejected.delete(key);
    }
  }
}

export function describePending(request: PendingRequest): PendingPairRequest {
  return {
    requestId: request.requestId,
    pairingCode: request.pairingCode,
    name: request.name,
    platform: request.platform,
    ...(request.version !== undefined ? { version: request.version } : {}),
    commands: request.commands,
    remoteAddress: request.remoteAddress,
    requestedAt: request.requestedAt,
    expiresAt: request.expiresAt,
    waiting: request.waiting.size > 0,
    contested: request.contested,
  };
}
