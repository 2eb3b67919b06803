import {
  GatewayError,
  type GatewayEventInput,
  type LoopgateConfig,
  type NodePairRequestInput,
  type NodePairUpdate,
  type NodesPairApproveOutput,
  type PendingPairRequest,
} from '@loopgate/protocol';
import type { Logger } from 'pino';
import type { NodeRegistry } from './node-registry.js';
import type { PairedNodeRecord } from './node-store.js';
import { hashSecret, mintNodeToken, newId, secretMatchesHash } from './node-tokens.js';
import { PairingRequests, type PendingRequest } from './pairing-requests.js';
import type { NodeSocket } from './presence.js';

/** A pairing conversation: the first answer now, then (if pending) the decision. */
export type PairingSession = {
  first: NodePairUpdate;
  /** Present while `first` is `pending`; resolves with the final update. */
  decision?: Promise<NodePairUpdate>;
};

export type NodePairingOptions = {
  registry: NodeRegistry;
  limits: () => LoopgateConfig['gateway']['nodes'];
  events: { emit(event: GatewayEventInput): unknown };
  log: Pick<Logger, 'info'>;
};

/**
 * Pairing: unpaired nodes ask, operators approve or reject, approved nodes
 * collect their credential. Pending requests live in `PairingRequests`; an
 * approval becomes a record in the `NodeRegistry`.
 */
export class NodePairing {
  readonly #opts: NodePairingOptions;
  readonly #requests: PairingRequests;

  constructor(options: NodePairingOptions) {
    this.#opts = options;
    this.#requests = new PairingRequests({
      ttlMs: () => options.limits().pendingTtlMs,
      maxPending: () => options.limits().maxPending,
      onExpired: (request) => {
        options.log.info(
          { requestId: request.requestId, name: request.name },
          'pairing request expired',
        );
        options.events.emit({
          type: 'node.pair.resolved',
          requestId: request.requestId,
          decision: 'expired',
        });
      },
    });
  }

  get size(): number {
    return this.#requests.size;
  }

  /** Pending requests as the registry adds them (each waiting for a decision). */
  all(): PendingRequest[] {
    return this.#requests.all();
  }

  find(ref: string): PendingRequest | undefined {
    return this.#requests.find(ref);
  }

  list(): PendingPairRequest[] {
    return this.#requests.list();
  }

  /** Every pending request ends as `expired` (the gateway is stopping). */
  close(): void {
    this.#requests.close();
  }

  /**
   * `node.pair.request` from an unpaired node. A node that asks again with the
   * same pairing key rejoins its request (or collects the token if it was
   * approved meanwhile, even across a gateway restart).
   */
  async request(
    input: NodePairRequestInput,
    conn: Pick<NodeSocket, 'id' | 'remoteAddress' | 'isLoopback'>,
  ): Promise<PairingSession> {
    const registry = this.#opts.registry;
    const keyHash = hashSecret(input.pairingKey);
    const approvedBefore = registry
      .all()
      .find((n) => n.claimKeyHash !== null && secretMatchesHash(input.pairingKey, n.claimKeyHash));
    if (approvedBefore) return { first: await this.#handOutToken(approvedBefore) };

    const rejection = this.#requests.rejection(keyHash);
    if (rejection)
      return {
        first: { status: 'rejected', ...(rejection.reason ? { reason: rejection.reason } : {}) },
      };

    let request = this.#requests.findByKeyHash(keyHash);
    if (!request) {
      this.#assertNameFree(input.name);
      request = this.#requests.add({
        name: input.name,
        platform: input.platform,
        version: input.version,
        commands: input.commands,
        keyHash,
        remoteAddress: conn.remoteAddress,
      });
      this.#opts.log.info(
        { requestId: request.requestId, name: request.name },
        'pairing requested',
      );
      this.#opts.events.emit({
        type: 'node.pair.requested',
        requestId: request.requestId,
        name: request.name,
        platform: request.platform,
        commands: request.commands,
      });
      if (this.#opts.limits().autoApproveLoopback && conn.isLoopback) {
        const approved = await this.approve(request.requestId);
        const record = registry.get(approved.nodeId);
        if (record) return { first: await this.#handOutToken(record) };
      }
    }
    request.waiting.add(conn.id);
    const pending = request;
    return {
      first: { status: 'pending', requestId: pending.requestId, expiresAt: pending.expiresAt },
      decision: pending.decision.then(async (decision) => {
        pending.waiting.delete(conn.id);
        if (decision.status !== 'approved') return decision;
        const record = registry.get(decision.nodeId);
        if (!record || record.claimKeyHash !== keyHash) {
          // removed again before the node collected its token
          return { status: 'rejected', reason: 'the approval was withdrawn' } as const;
        }
        return this.#handOutToken(record);
      }),
    };
  }

  /** The pairing socket stopped waiting (closed, or the subscription ended). */
  stopWaiting(connectionId: string): void {
    for (const request of this.#requests.all()) request.waiting.delete(connectionId);
  }

  /** Approves a pending request by id or name; `commands` default to what the node asked for. */
  async approve(requestRef: string, commands?: string[]): Promise<NodesPairApproveOutput> {
    const request = this.#pendingOrThrow(requestRef);
    this.#assertNameFree(request.name, request);
    const record: PairedNodeRecord = {
      nodeId: newId('nd'),
      name: request.name,
      platform: request.platform,
      ...(request.version !== undefined ? { version: request.version } : {}),
      approvedCommands: [...new Set(commands ?? request.commands)],
      declaredCommands: request.commands,
      tokenHash: null,
      claimKeyHash: request.keyHash,
      pairedAt: Date.now(),
      lastSeenAt: null,
    };
    await this.#opts.registry.add(record);
    this.#requests.decide(request, { status: 'approved', nodeId: record.nodeId });
    this.#opts.log.info({ nodeId: record.nodeId, name: record.name }, 'node paired');
    this.#opts.events.emit({
      type: 'node.pair.resolved',
      requestId: request.requestId,
      decision: 'approved',
      nodeId: record.nodeId,
    });
    return { nodeId: record.nodeId, name: record.name, approvedCommands: record.approvedCommands };
  }

  reject(requestRef: string, reason?: string): { requestId: string; name: string } {
    const request = this.#pendingOrThrow(requestRef);
    this.#requests.decide(request, { status: 'rejected', ...(reason ? { reason } : {}) });
    this.#opts.log.info({ requestId: request.requestId, name: request.name }, 'pairing rejected');
    this.#opts.events.emit({
      type: 'node.pair.resolved',
      requestId: request.requestId,
      decision: 'rejected',
    });
    return { requestId: request.requestId, name: request.name };
  }

  #pendingOrThrow(ref: string): PendingRequest {
    const request = this.#requests.find(ref);
    if (!request) {
      throw new GatewayError(
        'NOT_FOUND',
        `no pending pairing request "${ref}" (see loopgate nodes pending)`,
      );
    }
    return request;
  }

  #assertNameFree(name: string, approving?: PendingRequest): void {
    const existing = this.#opts.registry.findByName(name);
    if (existing) {
      throw new GatewayError(
        'CONFLICT',
        `a node named "${existing.name}" is already paired (${existing.nodeId}); remove it first (loopgate nodes remove ${existing.name}) or pick another name`,
      );
    }
    const pending = this.#requests.find(name);
    if (pending && pending !== approving && pending.name.toLowerCase() === name.toLowerCase()) {
      throw new GatewayError(
        'CONFLICT',
        `another node named "${name}" is already waiting for pairing (${pending.requestId}); pick another name`,
      );
    }
  }

  /**
   * Mints a fresh token for an approved node and stores only its hash before
   * handing it out, so the node never holds a token the gateway forgot.
   */
  async #handOutToken(record: PairedNodeRecord): Promise<NodePairUpdate> {
    const token = mintNodeToken();
    const previous = record.tokenHash;
    await this.#opts.registry.update(
      () => {
        record.tokenHash = hashSecret(token);
      },
      () => {
        record.tokenHash = previous;
      },
    );
    return {
      status: 'approved',
      nodeId: record.nodeId,
      name: record.name,
      nodeToken: token,
      approvedCommands: record.approvedCommands,
    };
  }
}
