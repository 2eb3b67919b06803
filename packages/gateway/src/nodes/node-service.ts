import { join } from 'node:path';
import {
  CloseCode,
  GatewayError,
  type LoopgateConfig,
  type NodeDetail,
  type NodeHelloInput,
  type NodeHelloOutput,
  type NodePairRequestInput,
  type NodeProgressInput,
  type NodeSummary,
  type NodesInvokeOutput,
  type NodesListOutput,
  type NodesPairApproveOutput,
  type NodesPairRemoveOutput,
  type PairedNodeSummary,
  type PendingPairRequest,
  pairingCodeOf,
} from '@loopgate/protocol';
import type { Logger } from 'pino';
import { InvokeBroker, type InvokeProgress, type NodeConnection } from './invoke-broker.js';
import { resolveInvokeTarget } from './invoke-target.js';
import { verifyNodeProof } from './node-keys.js';
import { allowedCommands, NodeRegistry } from './node-registry.js';
import type { PairedNodeRecord } from './node-store.js';
import {
  NodePairing,
  type PairingEventSink,
  type PairingSession,
  type PairingSocket,
} from './pairing.js';
import { describePending } from './pairing-requests.js';
import { NodePresence, type NodeSocket } from './presence.js';

export type { PairingSession, PairingSocket } from './pairing.js';

/** What a node socket presents at connect, next to the challenge its upgrade response carried. */
export type NodeProof = {
  challenge: string;
  publicKey: string;
  signature: string;
  nodeId: string | undefined;
};

/** Who a node socket proved to be: a paired node, or a key that may only ask to pair. */
export type NodeIdentity = { role: 'node'; nodeId: string } | { role: 'pairing'; nodeKey: string };
export type { NodeSocket } from './presence.js';

export type NodeServiceOptions = {
  config: LoopgateConfig;
  stateDir: string;
  events: PairingEventSink;
  log: Pick<Logger, 'info' | 'warn' | 'error' | 'debug'>;
};

/** What the agent runtime (or any in-process caller) passes to `invoke`. */
export type NodeInvokeRequest = {
  /** Node id (`nd_…`) or name. */
  nodeId: string;
  command: string;
  params?: unknown;
  /** Default `gateway.nodes.invokeTimeoutMs`. */
  timeoutMs?: number | undefined;
  /** Same key within `idempotencyWindowMs` → the first outcome, not a second run. */
  idempotencyKey?: string | undefined;
  /** Abort to cancel: the caller gets CANCELLED and the node is told to stop. */
  signal?: AbortSignal | undefined;
  onProgress?: ((progress: InvokeProgress) => void) | undefined;
};

/** One node's answer to a live probe (`status --deep`). */
export type NodeProbe = {
  nodeId: string;
  name: string;
  ok: boolean;
  latencyMs?: number;
  error?: string;
};

/**
 * Nodes: pairing, presence and invocations. Transport-neutral — the tRPC
 * router (and any future protocol adapter) calls in with plain values and
 * `NodeConnection`s. The jobs live in their own parts: `NodeRegistry` (paired
 * nodes on disk), `NodePairing` (requests and approvals), `NodePresence`
 * (sockets and who is online), `InvokeBroker` (calls in flight); this class
 * wires them and is the one face the rest of the gateway sees.
 *
 * In-process callers (the agent runtime) use:
 * - `list(): NodeSummary[]` — every paired node (online/offline, with the
 *   commands invocable now) and every pending pairing request;
 * - `invoke({ nodeId, command, params?, timeoutMs?, idempotencyKey?, signal? })`
 *   → `Promise<NodesInvokeOutput>`; failures reject with a `GatewayError`
 *   (NOT_PAIRED, NOT_CONNECTED, COMMAND_NOT_ALLOWED, NODE_DISCONNECTED,
 *   TIMEOUT, CANCELLED, COMMAND_FAILED, INVALID_RESULT, PAYLOAD_TOO_LARGE,
 *   BAD_REQUEST, CONFLICT).
 *
 * The transport calls `authenticate` for `role: 'node'` sockets and
 * `onConnectionOpened` / `onConnectionClosed` for node and pairing sockets.
 */
/** How long one `status --deep` probe answers every caller. */
const PROBE_REUSE_MS = 5_000;

export class NodeService {
  readonly #opts: NodeServiceOptions;
  readonly #registry: NodeRegistry;
  readonly #pairing: NodePairing;
  readonly #presence: NodePresence;
  readonly #broker: InvokeBroker;
  #opened = false;
  #lastProbe: { startedAt: number; result: Promise<NodeProbe[]> } | undefined;

  constructor(options: NodeServiceOptions) {
    this.#opts = options;
    const limits = () => this.#limits;
    this.#registry = new NodeRegistry({
      path: join(options.stateDir, 'nodes.json'),
      log: options.log,
    });
    this.#pairing = new NodePairing({
      registry: this.#registry,
      limits,
      events: options.events,
      log: options.log,
    });
    this.#presence = new NodePresence({
      registry: this.#registry,
      events: options.events,
      log: options.log,
      onStreamGone: (connectionId) => this.#broker.detachConnection(connectionId),
      onSocketClosed: (socket) => this.onConnectionClosed(socket),
    });
    this.#broker = new InvokeBroker({
      limits,
      resolveTarget: (ref, command) =>
        resolveInvokeTarget(
          { registry: this.#registry, presence: this.#presence, pairing: this.#pairing },
          ref,
          command,
        ),
      onFinished: (finished) => options.events.emit({ type: 'node.invoke.finished', ...finished }),
    });
  }

  get #limits(): LoopgateConfig['gateway']['nodes'] {
    return this.#opts.config.gateway.nodes;
  }

  async open(): Promise<void> {
    await this.#registry.load();
    this.#opened = true;
  }

  /** Fails whatever is in flight, drops pending requests, and waits for the last state write. */
  async close(): Promise<void> {
    if (!this.#opened) return;
    this.#opened = false;
    this.#broker.closeAll();
    this.#pairing.close();
    this.#presence.offlineAll('gateway stopping');
    await this.#registry.flush();
  }

  counts(): { paired: number; online: number; pending: number } {
    return {
      paired: this.#registry.size,
      online: this.#presence.onlineCount,
      pending: this.#pairing.size,
    };
  }

  // ------------------------------------------------------------ auth & sockets

  /**
   * For the transport: who a node socket is. The signature must verify over
   * this socket's challenge (else UNAUTHORIZED); a claimed node id must be
   * paired (else NOT_PAIRED) and paired with this very key (else
   * UNAUTHORIZED). Without a node id the socket may only ask to pair.
   */
  authenticate(proof: NodeProof): NodeIdentity {
    if (!verifyNodeProof(proof)) {
      throw new GatewayError(
        'UNAUTHORIZED',
        "the node's signature does not match its key and this connection's challenge",
      );
    }
    if (proof.nodeId === undefined) return { role: 'pairing', nodeKey: proof.publicKey };
    const record = this.#registry.get(proof.nodeId);
    if (!record) {
      throw new GatewayError(
        'NOT_PAIRED',
        `node ${proof.nodeId} is not paired with this gateway (it was removed, or never approved here)`,
      );
    }
    if (record.publicKey === null) {
      throw new GatewayError(
        'NOT_PAIRED',
        `node "${record.name}" was paired with a token before node keys; an operator must re-pair it (loopgate nodes remove ${record.name}, then restart the node and approve its code)`,
      );
    }
    if (record.publicKey !== proof.publicKey) {
      throw new GatewayError(
        'UNAUTHORIZED',
        `this key is not the one node "${record.name}" was paired with`,
      );
    }
    return { role: 'node', nodeId: record.nodeId };
  }

  /**
   * For a protocol adapter that verified a key itself (OpenClaw's device
   * identity signs another payload): the paired node holding the key, or a
   * key that may only ask to pair.
   */
  identifyKey(publicKey: string): NodeIdentity {
    const record = this.#registry.findByKey(publicKey);
    return record
      ? { role: 'node', nodeId: record.nodeId }
      : { role: 'pairing', nodeKey: publicKey };
  }

  onConnectionOpened(conn: NodeSocket): void {
    if (conn.role !== 'node' || conn.nodeId === undefined) return;
    this.#presence.track(conn, conn.nodeId);
  }

  onConnectionClosed(conn: Pick<NodeSocket, 'id' | 'nodeId'>, code?: number): void {
    this.#broker.detachConnection(conn.id);
    this.#pairing.stopWaiting(conn.id);
    if (conn.nodeId !== undefined) this.#presence.socketClosed(conn.id, conn.nodeId, code);
  }

  // ------------------------------------------------------------ node side

  /** `node.hello`: (re)declares the node's commands and tells it what operators may invoke. */
  async hello(conn: NodeSocket, input: NodeHelloInput): Promise<NodeHelloOutput> {
    const record = this.#requireNodeSocket(conn);
    declare(record, input);
    await this.#registry.saveQuietly();
    const allowed = allowedCommands(record);
    return {
      nodeId: record.nodeId,
      name: record.name,
      approvedCommands: record.approvedCommands,
      allowedCommands: allowed,
      notApproved: record.declaredCommands.filter((c) => !allowed.includes(c)),
      limits: {
        maxParamsBytes: this.#limits.maxParamsBytes,
        maxResultBytes: this.#limits.maxResultBytes,
      },
    };
  }

  /**
   * The node starts receiving invocations on `connection` (declaring its
   * commands at the same time). A previous connection of the same node is
   * closed: its calls fail with NODE_DISCONNECTED.
   */
  attachInvocations(
    conn: NodeSocket,
    declaration: NodeHelloInput,
    connection: NodeConnection,
  ): void {
    const record = this.#requireNodeSocket(conn);
    if (this.#presence.live(record.nodeId)?.connection.connectionId === connection.connectionId) {
      throw new GatewayError('CONFLICT', 'this connection already receives invocations');
    }
    declare(record, declaration);
    this.#presence.attach(record, connection, conn.remoteAddress);
  }

  /** The invocation stream of `connection` ended (unsubscribed or socket closed). */
  detachInvocations(connection: NodeConnection, reason: string): void {
    this.#presence.detach(connection, reason);
  }

  postResult(conn: NodeSocket, raw: { invocationId: string }): { accepted: boolean } {
    const record = this.#requireNodeSocket(conn);
    const { accepted, refused } = this.#broker.postResult(
      { connectionId: conn.id, nodeId: record.nodeId },
      raw,
    );
    if (refused) throw refused;
    return { accepted };
  }

  postProgress(conn: NodeSocket, input: NodeProgressInput): { accepted: boolean } {
    const record = this.#requireNodeSocket(conn);
    return {
      accepted: this.#broker.postProgress({ connectionId: conn.id, nodeId: record.nodeId }, input),
    };
  }

  // ------------------------------------------------------------ pairing

  /** `node.pair.request` from an unpaired node; see `NodePairing.request`. */
  requestPairing(input: NodePairRequestInput, conn: PairingSocket): Promise<PairingSession> {
    return this.#pairing.request(input, conn);
  }

  /** The pairing socket stopped waiting (closed, or the subscription ended). */
  stopWaiting(connectionId: string): void {
    this.#pairing.stopWaiting(connectionId);
  }

  listPending(): PendingPairRequest[] {
    return this.#pairing.list();
  }

  /** Approves a pending request by id, pairing code or unambiguous name; see `NodePairing.approve`. */
  approve(requestRef: string, commands?: string[]): Promise<NodesPairApproveOutput> {
    return this.#pairing.approve(requestRef, commands);
  }

  reject(requestRef: string, reason?: string): { requestId: string; name: string } {
    return this.#pairing.reject(requestRef, reason);
  }

  /** Revokes a paired node: its key no longer opens a connection and its live sockets close (4010). */
  async remove(nodeRef: string): Promise<NodesPairRemoveOutput> {
    const record = this.#registry.find(nodeRef);
    if (!record)
      throw new GatewayError('NOT_FOUND', `no paired node "${nodeRef}" (see loopgate nodes list)`);
    await this.#registry.remove(record);
    const closedConnections = this.#presence.disconnect(
      record.nodeId,
      CloseCode.revoked,
      'this node was removed by an operator',
    );
    this.#opts.log.info({ nodeId: record.nodeId, name: record.name }, 'node removed');
    this.#opts.events.emit({ type: 'node.removed', nodeId: record.nodeId });
    return { nodeId: record.nodeId, name: record.name, closedConnections };
  }

  // ------------------------------------------------------------ presence

  list(): NodesListOutput {
    const paired: NodeSummary[] = this.#registry.all().map((record) => this.#summary(record));
    const pending: NodeSummary[] = this.#pairing
      .all()
      .map((r) => ({ ...describePending(r), state: 'pending' as const }));
    return [...paired, ...pending].sort((a, b) => a.name.localeCompare(b.name));
  }

  /** One node (by id or name) with its in-flight invocations, or a pending request (by id or name). */
  describe(ref: string): NodeDetail {
    const record = this.#registry.find(ref);
    if (record) {
      const summary = this.#summary(record);
      return { ...summary, invocations: this.#broker.inFlight(record.nodeId) } as NodeDetail;
    }
    const request = this.#pairing.find(ref);
    if (request) return { ...describePending(request), state: 'pending' };
    throw new GatewayError(
      'NOT_FOUND',
      `no node or pairing request "${ref}" (see loopgate nodes list)`,
    );
  }

  /**
   * For `status --deep`: every paired node, live. An online node offering
   * `system.info` is asked for it (round trip measured, short timeout); one
   * that does not offer it counts as reachable by its open invocation stream.
   */
  /**
   * `status --deep`: `system.info` on every online node, for its latency.
   * `status` is operator.read, and a read token may not invoke nodes, so a
   * probe is shared: calls within PROBE_REUSE_MS of one (or while it runs)
   * get its answer instead of making every node run the command again.
   */
  probe(timeoutMs = 2_000): Promise<NodeProbe[]> {
    const now = Date.now();
    const last = this.#lastProbe;
    if (last && now - last.startedAt < PROBE_REUSE_MS) return last.result;
    const result = this.#probeNow(timeoutMs);
    this.#lastProbe = { startedAt: now, result };
    return result;
  }

  async #probeNow(timeoutMs: number): Promise<NodeProbe[]> {
    return Promise.all(
      this.#registry.all().map(async (record): Promise<NodeProbe> => {
        const base = { nodeId: record.nodeId, name: record.name };
        if (!this.#presence.live(record.nodeId)) return { ...base, ok: false, error: 'offline' };
        if (!allowedCommands(record).includes('system.info')) return { ...base, ok: true };
        const started = performance.now();
        try {
          await this.invoke({ nodeId: record.nodeId, command: 'system.info', timeoutMs });
          return {
            ...base,
            ok: true,
            latencyMs: Math.round((performance.now() - started) * 100) / 100,
          };
        } catch (error) {
          return {
            ...base,
            ok: false,
            error: error instanceof GatewayError ? error.code : 'INTERNAL',
          };
        }
      }),
    );
  }

  // ------------------------------------------------------------ invoking

  invoke(request: NodeInvokeRequest): Promise<NodesInvokeOutput> {
    return this.#broker.invoke({
      nodeRef: request.nodeId,
      command: request.command,
      params: request.params,
      timeoutMs: request.timeoutMs ?? this.#limits.invokeTimeoutMs,
      idempotencyKey: request.idempotencyKey,
      signal: request.signal,
      onProgress: request.onProgress,
    });
  }

  // ------------------------------------------------------------ internals

  #summary(record: PairedNodeRecord): PairedNodeSummary {
    const live = this.#presence.live(record.nodeId);
    return {
      state: live ? 'online' : 'offline',
      nodeId: record.nodeId,
      name: record.name,
      platform: record.platform,
      ...(record.version !== undefined ? { version: record.version } : {}),
      commands: live ? allowedCommands(record) : [],
      declaredCommands: record.declaredCommands,
      approvedCommands: record.approvedCommands,
      ...(record.publicKey !== null ? { pairingCode: pairingCodeOf(record.publicKey) } : {}),
      pairedAt: record.pairedAt,
      lastSeenAt: live ? Date.now() : record.lastSeenAt,
      ...(live ? { connectedAt: live.connectedAt, remoteAddress: live.remoteAddress } : {}),
      inFlight: this.#broker.inFlightCount(record.nodeId),
    };
  }

  /** The paired node a socket speaks for; a socket of a removed node is closed. */
  #requireNodeSocket(conn: NodeSocket): PairedNodeRecord {
    const record = conn.nodeId === undefined ? undefined : this.#registry.get(conn.nodeId);
    if (!record) {
      conn.close(CloseCode.revoked, 'this node was removed by an operator');
      throw new GatewayError('NOT_PAIRED', 'this node is no longer paired');
    }
    this.#presence.track(conn, record.nodeId);
    return record;
  }
}

function declare(record: PairedNodeRecord, declaration: NodeHelloInput): void {
  record.declaredCommands = [...new Set(declaration.commands)];
  if (declaration.platform !== undefined) record.platform = declaration.platform;
  if (declaration.version !== undefined) record.version = declaration.version;
}
