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
import type { EmitOptions } from '../events/index.js';
import { BudgetedLine } from '../log/index.js';
import { newId } from './node-ids.js';
import type { NodeRegistry } from './node-registry.js';
import type { PairedNodeRecord } from './node-store.js';
import { type PairDecision, PairingRequests, type PendingRequest } from './pairing-requests.js';
import type { NodeSocket } from './presence.js';

/** A pairing conversation: the first answer now, then (if pending) the decision. */
export type PairingSession = {
  first: NodePairUpdate;
  /** Present while `first` is `pending`; resolves with the final update. */
  decision?: Promise<NodePairUpdate>;
};

/** The socket asking: its node key was proven at connect (see `NodeService.authenticate`). */
export type PairingSocket = Pick<NodeSocket, 'id' | 'remoteAddress' | 'isLoopback' | 'closed'> & {
  nodeKey: string | undefined;
};

/** The event bus as pairing uses it: some of its events are live only (see `LIVE_ONLY`). */
export type PairingEventSink = { emit(event: GatewayEventInput, options?: EmitOptions): unknown };

/**
 * A request, and its lapse when its node goes away or it expires, are events a
 * peer with no credential causes at will: one making up keys from a few
 * addresses could otherwise push the whole replay ring — what operators
 * resume from — out in minutes. So they go to live subscribers only; an
 * operator who was away sees what waits in `nodes.pending`, and the gateway's
 * log keeps each request. What an operator decides stays durable.
 */
const LIVE_ONLY: EmitOptions = { liveOnly: true };

export type NodePairingOptions = {
  registry: NodeRegistry;
  limits: () => LoopgateConfig['gateway']['nodes'];
  events: PairingEventSink;
  log: Pick<Logger, 'info'>;
};

/**
 * Pairing: unpaired nodes ask under the key their socket proved, operators
 * compare the pairing code and approve (by request id or code; by name only
 * when one key asked for it) or reject. An approval binds the name to the key
 * in the `NodeRegistry`; nothing secret is handed out.
 */
export class NodePairing {
  readonly #opts: NodePairingOptions;
  readonly #requests: PairingRequests;

  /**
   * Anyone may ask to pair under a key made up on the spot and leave at once,
   * for as long as it likes (32 requests per 5 s grace with the defaults), so
   * these lines are budgeted: an operator sees who waits with `nodes pending`
   * and in the live events, and every request is counted.
   */
  readonly #requestedLines: BudgetedLine<{ requestId: string; name: string; pairingCode: string }>;
  readonly #lapsedLines: BudgetedLine<{ requestId: string; name: string; msg: string }>;

  constructor(options: NodePairingOptions) {
    this.#opts = options;
    this.#requestedLines = new BudgetedLine((fields) =>
      options.log.info(fields, 'pairing requested'),
    );
    this.#lapsedLines = new BudgetedLine(({ msg, ...fields }) => options.log.info(fields, msg));
    this.#requests = new PairingRequests({
      limits: options.limits,
      onLapsed: (request, decision) => {
        this.#lapsedLines.note({
          requestId: request.requestId,
          name: request.name,
          msg: decision === 'expired' ? 'pairing request expired' : 'pairing request withdrawn',
        });
        options.events.emit(
          { type: 'node.pair.resolved', requestId: request.requestId, decision },
          LIVE_ONLY,
        );
      },
    });
  }

  get size(): number {
    return this.#requests.size;
  }

  all(): PendingRequest[] {
    return this.#requests.all();
  }

  /** For lookups that only describe (never approve): by id, code, or the first request for a name. */
  find(ref: string): PendingRequest | undefined {
    return this.#requests.byId(ref) ?? this.#requests.byCode(ref) ?? this.#requests.byName(ref)[0];
  }

  list(): PendingPairRequest[] {
    return this.#requests.list();
  }

  /** Every pending request ends as `expired` (the gateway is stopping). */
  close(): void {
    this.#requests.close();
    this.#requestedLines.flush();
    this.#lapsedLines.flush();
  }

  /**
   * `node.pair.request`. A node whose key is already paired learns its node id
   * at once (approved while it was away, or before a gateway restart); one that
   * asks again with the same key rejoins its request.
   */
  async request(input: NodePairRequestInput, conn: PairingSocket): Promise<PairingSession> {
    const publicKey = conn.nodeKey;
    if (publicKey === undefined) {
      throw new GatewayError(
        'BAD_REQUEST',
        'a pairing request needs a node key: connect with nodeKey and nodeSignature (update the node)',
      );
    }
    const paired = this.#opts.registry.findByKey(publicKey);
    if (paired) return { first: approvedUpdate(paired) };

    const rejection = this.#requests.rejection(publicKey);
    if (rejection)
      return {
        first: { status: 'rejected', ...(rejection.reason ? { reason: rejection.reason } : {}) },
      };

    let request = this.#requests.byKey(publicKey);
    if (!request) {
      this.#assertNotPaired(input.name);
      request = this.#requests.add({
        name: input.name,
        platform: input.platform,
        version: input.version,
        commands: input.commands,
        publicKey,
        remoteAddress: conn.remoteAddress,
      });
      this.#requestedLines.note({
        requestId: request.requestId,
        name: request.name,
        pairingCode: request.pairingCode,
      });
      this.#opts.events.emit(
        {
          type: 'node.pair.requested',
          requestId: request.requestId,
          pairingCode: request.pairingCode,
          name: request.name,
          platform: request.platform,
          commands: request.commands,
        },
        LIVE_ONLY,
      );
      if (this.#opts.limits().autoApproveLoopback && conn.isLoopback) {
        const approved = await this.approve(request.requestId);
        const record = this.#opts.registry.get(approved.nodeId);
        if (record) return { first: approvedUpdate(record) };
      }
    }
    const pending = request;
    this.#requests.wait(pending, conn.id);
    // Closed while we were deciding: the close already ran its cleanup.
    if (conn.closed.aborted) this.#requests.stopWaiting(conn.id);
    return {
      first: {
        status: 'pending',
        requestId: pending.requestId,
        pairingCode: pending.pairingCode,
        expiresAt: pending.expiresAt,
      },
      decision: pending.decision.then((decision) => this.#finalUpdate(decision, publicKey)),
    };
  }

  /** The pairing socket stopped waiting (closed, or the subscription ended). */
  stopWaiting(connectionId: string): void {
    this.#requests.stopWaiting(connectionId);
  }

  /**
   * Approves a pending request by id, pairing code, or name — by name only
   * when exactly one request asks for it and no other key asked for it while
   * pending; otherwise CONFLICT lists the ids and codes to choose from.
   * `commands` default to what the node asked for.
   */
  async approve(requestRef: string, commands?: string[]): Promise<NodesPairApproveOutput> {
    const request = this.#resolveForDecision(requestRef);
    this.#assertNotPaired(request.name);
    const record: PairedNodeRecord = {
      nodeId: newId('nd'),
      name: request.name,
      platform: request.platform,
      ...(request.version !== undefined ? { version: request.version } : {}),
      approvedCommands: [...new Set(commands ?? request.commands)],
      declaredCommands: request.commands,
      publicKey: request.publicKey,
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
    // The name is taken now: the other keys that asked for it are told so.
    for (const rival of this.#requests.byName(record.name)) {
      this.#decideRejected(rival, `another node was approved as "${record.name}"`);
    }
    return { nodeId: record.nodeId, name: record.name, approvedCommands: record.approvedCommands };
  }

  reject(requestRef: string, reason?: string): { requestId: string; name: string } {
    const request = this.#resolveForDecision(requestRef);
    this.#decideRejected(request, reason);
    return { requestId: request.requestId, name: request.name };
  }

  #decideRejected(request: PendingRequest, reason: string | undefined): void {
    this.#requests.decide(request, { status: 'rejected', ...(reason ? { reason } : {}) });
    this.#opts.log.info({ requestId: request.requestId, name: request.name }, 'pairing rejected');
    this.#opts.events.emit({
      type: 'node.pair.resolved',
      requestId: request.requestId,
      decision: 'rejected',
    });
  }

  #finalUpdate(decision: PairDecision, publicKey: string): NodePairUpdate {
    if (decision.status === 'withdrawn') return { status: 'expired' };
    if (decision.status !== 'approved') return decision;
    const record = this.#opts.registry.get(decision.nodeId);
    if (!record || record.publicKey !== publicKey) {
      // removed again before the node heard of its approval
      return { status: 'rejected', reason: 'the approval was withdrawn' };
    }
    return approvedUpdate(record);
  }

  /** The one request an operator's decision is about; a name that is not unambiguous is refused. */
  #resolveForDecision(ref: string): PendingRequest {
    const exact = this.#requests.byId(ref) ?? this.#requests.byCode(ref);
    if (exact) return exact;
    const named = this.#requests.byName(ref);
    const only = named[0];
    if (!only) {
      throw new GatewayError(
        'NOT_FOUND',
        `no pending pairing request "${ref}" (see loopgate nodes pending)`,
      );
    }
    if (named.length > 1 || only.contested) {
      const choices = named.map(
        (r) => `${r.requestId} (code ${r.pairingCode}, from ${r.remoteAddress})`,
      );
      throw new GatewayError(
        'CONFLICT',
        `more than one node asked to pair as "${only.name}": compare the pairing code each node prints and use its request id or code — ${choices.join(', ')}`,
        {
          details: {
            requests: named.map((r) => ({ requestId: r.requestId, pairingCode: r.pairingCode })),
          },
        },
      );
    }
    return only;
  }

  #assertNotPaired(name: string): void {
    const existing = this.#opts.registry.findByName(name);
    if (existing) {
      throw new GatewayError(
        'CONFLICT',
        `a node named "${existing.name}" is already paired (${existing.nodeId}); remove it first (loopgate nodes remove ${existing.name}) or pick another name`,
      );
    }
  }
}

function approvedUpdate(record: PairedNodeRecord): NodePairUpdate {
  return {
    status: 'approved',
    nodeId: record.nodeId,
    name: record.name,
    approvedCommands: record.approvedCommands,
  };
}
