import { join } from 'node:path';
import {
  CloseCode,
  commandPatternMatches,
  GatewayError,
  type GatewayEventInput,
  type LoopgateConfig,
  type NodeDetail,
  type NodeHelloInput,
  type NodeHelloOutput,
  type NodePairRequestInput,
  type NodePairUpdate,
  type NodeProgressInput,
  type NodeSummary,
  type NodesInvokeOutput,
  type NodesListOutput,
  type NodesPairApproveOutput,
  type NodesPairRemoveOutput,
  type PairedNodeSummary,
  type PendingPairRequest,
} from '@loopgate/protocol';
import type { Logger } from 'pino';
import {
  InvokeBroker,
  type InvokeProgress,
  type InvokeTarget,
  type NodeConnection,
} from './invoke-broker.js';
import { NodeStateFile, type PairedNodeRecord } from './node-store.js';
import { hashSecret, mintNodeToken, newId, secretMatchesHash } from './node-tokens.js';
import { describePending, PairingRequests, type PendingRequest } from './pairing-requests.js';

/**
 * The slice of a live socket the node service needs. The gateway's
 * `ConnectionInfo` fits it; so would a socket of another protocol adapter.
 */
export type NodeSocket = {
  readonly id: string;
  readonly role: 'operator' | 'node' | 'pairing';
  readonly nodeId: string | undefined;
  readonly remoteAddress: string;
  readonly isLoopback: boolean;
  close(code: number, reason: string): void;
  readonly closed: AbortSignal;
};

export type NodeServiceOptions = {
  config: LoopgateConfig;
  stateDir: string;
  events: { emit(event: GatewayEventInput): unknown };
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

/** A pairing conversation: the first answer now, then (if pending) the decision. */
export type PairingSession = {
  first: NodePairUpdate;
  /** Present while `first` is `pending`; resolves with the final update. */
  decision?: Promise<NodePairUpdate>;
};

type LiveNode = { connection: NodeConnection; connectedAt: number; remoteAddress: string };
type TrackedSocket = Pick<NodeSocket, 'close' | 'remoteAddress'> & { connectedAt: number };

/**
 * Nodes: pairing, presence and invocations. Transport-neutral — the tRPC
 * router (and any future protocol adapter) calls in with plain values and
 * `NodeConnection`s.
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
 * The transport calls `authenticateNodeToken` for `role: 'node'` sockets and
 * `onConnectionOpened` / `onConnectionClosed` for node and pairing sockets.
 */
export class NodeService {
  readonly #opts: NodeServiceOptions;
  readonly #file: NodeStateFile;
  readonly #nodes = new Map<string, PairedNodeRecord>();
  /** The connection each online node receives invocations on. */
  readonly #live = new Map<string, LiveNode>();
  /** Every authenticated socket per node, so a revoke can close them all. */
  readonly #sockets = new Map<string, Map<string, TrackedSocket>>();
  readonly #pairing: PairingRequests;
  readonly #broker: InvokeBroker;
  #opened = false;

  constructor(options: NodeServiceOptions) {
    this.#opts = options;
    this.#file = new NodeStateFile(join(options.stateDir, 'nodes.json'));
    this.#pairing = new PairingRequests({
      ttlMs: () => this.#limits.pendingTtlMs,
      maxPending: () => this.#limits.maxPending,
      onExpired: (request) => {
        this.#log.info(
          { requestId: request.requestId, name: request.name },
          'pairing request expired',
        );
        this.#emit({
          type: 'node.pair.resolved',
          requestId: request.requestId,
          decision: 'expired',
        });
      },
    });
    this.#broker = new InvokeBroker({
      limits: () => this.#limits,
      resolveTarget: (ref, command) => this.#resolveTarget(ref, command),
      onFinished: (finished) => this.#emit({ type: 'node.invoke.finished', ...finished }),
    });
  }

  get #limits(): LoopgateConfig['gateway']['nodes'] {
    return this.#opts.config.gateway.nodes;
  }

  get #log(): NodeServiceOptions['log'] {
    return this.#opts.log;
  }

  async open(): Promise<void> {
    const records = await this.#file.load();
    this.#nodes.clear();
    for (const record of records) this.#nodes.set(record.nodeId, record);
    this.#opened = true;
  }

  /** Fails whatever is in flight, drops pending requests, and waits for the last state write. */
  async close(): Promise<void> {
    if (!this.#opened) return;
    this.#opened = false;
    this.#broker.closeAll();
    this.#pairing.close();
    for (const nodeId of [...this.#live.keys()]) this.#goOffline(nodeId, 'gateway stopping');
    await this.#saveQuietly();
    await this.#file.flush();
  }

  counts(): { paired: number; online: number; pending: number } {
    return { paired: this.#nodes.size, online: this.#live.size, pending: this.#pairing.size };
  }

  // ------------------------------------------------------------ auth & sockets

  /** For the transport: which node a presented node token belongs to, if any. */
  authenticateNodeToken(token: string): { nodeId: string } | undefined {
    let found: PairedNodeRecord | undefined;
    // Compare against every node (no early exit) so timing says nothing about which one matched.
    for (const record of this.#nodes.values()) {
      if (record.tokenHash !== null && secretMatchesHash(token, record.tokenHash)) found = record;
    }
    if (!found) return undefined;
    if (found.claimKeyHash !== null) {
      // First use of the token: the pairing key can no longer collect another one.
      found.claimKeyHash = null;
      void this.#saveQuietly();
    }
    return { nodeId: found.nodeId };
  }

  onConnectionOpened(conn: NodeSocket): void {
    if (conn.role !== 'node' || conn.nodeId === undefined) return;
    this.#trackSocket(conn, conn.nodeId);
  }

  onConnectionClosed(conn: Pick<NodeSocket, 'id' | 'nodeId'>, code?: number): void {
    this.#broker.detachConnection(conn.id);
    this.stopWaiting(conn.id);
    const nodeId = conn.nodeId;
    if (nodeId === undefined) return;
    const sockets = this.#sockets.get(nodeId);
    sockets?.delete(conn.id);
    if (sockets?.size === 0) this.#sockets.delete(nodeId);
    if (this.#live.get(nodeId)?.connection.connectionId === conn.id) {
      this.#goOffline(nodeId, code === undefined ? 'disconnected' : `disconnected (${code})`);
    }
  }

  // ------------------------------------------------------------ node side

  /** `node.hello`: (re)declares the node's commands and tells it what operators may invoke. */
  async hello(conn: NodeSocket, input: NodeHelloInput): Promise<NodeHelloOutput> {
    const record = this.#requireNodeSocket(conn);
    this.#declare(record, input);
    await this.#saveQuietly();
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
    const previous = this.#live.get(record.nodeId);
    if (previous?.connection.connectionId === connection.connectionId) {
      throw new GatewayError('CONFLICT', 'this connection already receives invocations');
    }
    this.#declare(record, declaration);
    if (previous) {
      // Usually the old socket of a node that reconnected before its drop was
      // noticed; a final close code also stops a second process running with
      // the same token from fighting over the node.
      this.#goOffline(record.nodeId, 'replaced by a newer connection');
      previous.connection.close(
        CloseCode.forbidden,
        'replaced by a newer connection of the same node',
      );
    }
    const now = Date.now();
    this.#live.set(record.nodeId, {
      connection,
      connectedAt: now,
      remoteAddress: conn.remoteAddress,
    });
    record.lastSeenAt = now;
    void this.#saveQuietly();
    this.#log.info({ nodeId: record.nodeId, name: record.name }, 'node online');
    this.#emit({
      type: 'node.online',
      nodeId: record.nodeId,
      name: record.name,
      commands: allowedCommands(record),
    });
  }

  /** The invocation stream of `connection` ended (unsubscribed or socket closed). */
  detachInvocations(connection: NodeConnection, reason: string): void {
    if (this.#live.get(connection.nodeId)?.connection === connection)
      this.#goOffline(connection.nodeId, reason);
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

  /**
   * `node.pair.request` from an unpaired node. A node that asks again with the
   * same pairing key rejoins its request (or collects the token if it was
   * approved meanwhile, even across a gateway restart).
   */
  async requestPairing(
    input: NodePairRequestInput,
    conn: Pick<NodeSocket, 'id' | 'remoteAddress' | 'isLoopback'>,
  ): Promise<PairingSession> {
    const keyHash = hashSecret(input.pairingKey);
    const approvedBefore = [...this.#nodes.values()].find(
      (n) => n.claimKeyHash !== null && secretMatchesHash(input.pairingKey, n.claimKeyHash),
    );
    if (approvedBefore) return { first: await this.#handOutToken(approvedBefore) };

    const rejection = this.#pairing.rejection(keyHash);
    if (rejection)
      return {
        first: { status: 'rejected', ...(rejection.reason ? { reason: rejection.reason } : {}) },
      };

    let request = this.#pairing.findByKeyHash(keyHash);
    if (!request) {
      this.#assertNameFree(input.name);
      request = this.#pairing.add({
        name: input.name,
        platform: input.platform,
        version: input.version,
        commands: input.commands,
        keyHash,
        remoteAddress: conn.remoteAddress,
      });
      this.#log.info({ requestId: request.requestId, name: request.name }, 'pairing requested');
      this.#emit({
        type: 'node.pair.requested',
        requestId: request.requestId,
        name: request.name,
        platform: request.platform,
        commands: request.commands,
      });
      if (this.#limits.autoApproveLoopback && conn.isLoopback) {
        const approved = await this.approve(request.requestId);
        const record = this.#nodes.get(approved.nodeId);
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
        const record = this.#nodes.get(decision.nodeId);
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
    for (const request of this.#pairing.all()) request.waiting.delete(connectionId);
  }

  listPending(): PendingPairRequest[] {
    return this.#pairing.list();
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
    this.#nodes.set(record.nodeId, record);
    try {
      await this.#file.save([...this.#nodes.values()]);
    } catch (error) {
      this.#nodes.delete(record.nodeId);
      throw this.#stateWriteFailed(error);
    }
    this.#pairing.decide(request, { status: 'approved', nodeId: record.nodeId });
    this.#log.info({ nodeId: record.nodeId, name: record.name }, 'node paired');
    this.#emit({
      type: 'node.pair.resolved',
      requestId: request.requestId,
      decision: 'approved',
      nodeId: record.nodeId,
    });
    return { nodeId: record.nodeId, name: record.name, approvedCommands: record.approvedCommands };
  }

  reject(requestRef: string, reason?: string): { requestId: string; name: string } {
    const request = this.#pendingOrThrow(requestRef);
    this.#pairing.decide(request, { status: 'rejected', ...(reason ? { reason } : {}) });
    this.#log.info({ requestId: request.requestId, name: request.name }, 'pairing rejected');
    this.#emit({ type: 'node.pair.resolved', requestId: request.requestId, decision: 'rejected' });
    return { requestId: request.requestId, name: request.name };
  }

  /** Revokes a paired node: its token stops working and its live sockets close (4010). */
  async remove(nodeRef: string): Promise<NodesPairRemoveOutput> {
    const record = this.#findNode(nodeRef);
    if (!record)
      throw new GatewayError('NOT_FOUND', `no paired node "${nodeRef}" (see loopgate nodes list)`);
    this.#nodes.delete(record.nodeId);
    try {
      await this.#file.save([...this.#nodes.values()]);
    } catch (error) {
      this.#nodes.set(record.nodeId, record);
      throw this.#stateWriteFailed(error);
    }
    const toClose = new Map<string, Pick<TrackedSocket, 'close'>>(this.#sockets.get(record.nodeId));
    const live = this.#live.get(record.nodeId);
    if (live && !toClose.has(live.connection.connectionId))
      toClose.set(live.connection.connectionId, live.connection);
    this.#goOffline(record.nodeId, 'removed');
    this.#sockets.delete(record.nodeId);
    for (const socket of toClose.values())
      socket.close(CloseCode.revoked, 'this node was removed by an operator');
    this.#log.info({ nodeId: record.nodeId, name: record.name }, 'node removed');
    this.#emit({ type: 'node.removed', nodeId: record.nodeId });
    return { nodeId: record.nodeId, name: record.name, closedConnections: toClose.size };
  }

  // ------------------------------------------------------------ presence

  list(): NodesListOutput {
    const paired: NodeSummary[] = [...this.#nodes.values()].map((record) => this.#summary(record));
    const pending: NodeSummary[] = this.#pairing
      .all()
      .map((r) => ({ ...describePending(r), state: 'pending' as const }));
    return [...paired, ...pending].sort((a, b) => a.name.localeCompare(b.name));
  }

  /** One node (by id or name) with its in-flight invocations, or a pending request (by id or name). */
  describe(ref: string): NodeDetail {
    const record = this.#findNode(ref);
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
  async probe(timeoutMs = 2_000): Promise<NodeProbe[]> {
    return Promise.all(
      [...this.#nodes.values()].map(async (record): Promise<NodeProbe> => {
        const base = { nodeId: record.nodeId, name: record.name };
        if (!this.#live.has(record.nodeId)) return { ...base, ok: false, error: 'offline' };
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

  #resolveTarget(ref: string, command: string): InvokeTarget {
    const record = this.#findNode(ref);
    if (!record) {
      const pending = this.#pairing.find(ref);
      throw new GatewayError(
        'NOT_PAIRED',
        pending
          ? `node "${pending.name}" is waiting for pairing approval (loopgate nodes approve ${pending.requestId})`
          : `no paired node "${ref}"`,
      );
    }
    const live = this.#live.get(record.nodeId);
    if (!live) {
      const seen =
        record.lastSeenAt === null
          ? 'never connected'
          : `last seen ${new Date(record.lastSeenAt).toISOString()}`;
      throw new GatewayError('NOT_CONNECTED', `node "${record.name}" is offline (${seen})`, {
        details: { nodeId: record.nodeId, lastSeenAt: record.lastSeenAt },
      });
    }
    if (!record.declaredCommands.includes(command)) {
      throw new GatewayError(
        'COMMAND_NOT_ALLOWED',
        `node "${record.name}" does not offer "${command}"`,
        {
          details: { offered: allowedCommands(record) },
        },
      );
    }
    if (!record.approvedCommands.some((p) => commandPatternMatches(p, command))) {
      throw new GatewayError(
        'COMMAND_NOT_ALLOWED',
        `"${command}" was not approved for node "${record.name}" at pairing`,
        { details: { offered: allowedCommands(record) } },
      );
    }
    return { nodeId: record.nodeId, name: record.name, connection: live.connection };
  }

  // ------------------------------------------------------------ internals

  #summary(record: PairedNodeRecord): PairedNodeSummary {
    const live = this.#live.get(record.nodeId);
    return {
      state: live ? 'online' : 'offline',
      nodeId: record.nodeId,
      name: record.name,
      platform: record.platform,
      ...(record.version !== undefined ? { version: record.version } : {}),
      commands: live ? allowedCommands(record) : [],
      declaredCommands: record.declaredCommands,
      approvedCommands: record.approvedCommands,
      pairedAt: record.pairedAt,
      lastSeenAt: live ? Date.now() : record.lastSeenAt,
      ...(live ? { connectedAt: live.connectedAt, remoteAddress: live.remoteAddress } : {}),
      inFlight: this.#broker.inFlightCount(record.nodeId),
    };
  }

  /** Nodes by id (exact) or name (case-insensitive). */
  #findNode(ref: string): PairedNodeRecord | undefined {
    const byId = this.#nodes.get(ref);
    if (byId) return byId;
    const lower = ref.toLowerCase();
    for (const record of this.#nodes.values())
      if (record.name.toLowerCase() === lower) return record;
    return undefined;
  }

  #pendingOrThrow(ref: string): PendingRequest {
    const request = this.#pairing.find(ref);
    if (!request) {
      throw new GatewayError(
        'NOT_FOUND',
        `no pending pairing request "${ref}" (see loopgate nodes pending)`,
      );
    }
    return request;
  }

  #assertNameFree(name: string, approving?: PendingRequest): void {
    const existing = this.#findNode(name);
    if (existing && existing.name.toLowerCase() === name.toLowerCase()) {
      throw new GatewayError(
        'CONFLICT',
        `a node named "${existing.name}" is already paired (${existing.nodeId}); remove it first (loopgate nodes remove ${existing.name}) or pick another name`,
      );
    }
    const pending = this.#pairing.find(name);
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
    record.tokenHash = hashSecret(token);
    try {
      await this.#file.save([...this.#nodes.values()]);
    } catch (error) {
      record.tokenHash = previous;
      throw this.#stateWriteFailed(error);
    }
    return {
      status: 'approved',
      nodeId: record.nodeId,
      name: record.name,
      nodeToken: token,
      approvedCommands: record.approvedCommands,
    };
  }

  /** The paired node a socket speaks for; a socket of a removed node is closed. */
  #requireNodeSocket(conn: NodeSocket): PairedNodeRecord {
    const record = conn.nodeId === undefined ? undefined : this.#nodes.get(conn.nodeId);
    if (!record) {
      conn.close(CloseCode.revoked, 'this node was removed by an operator');
      throw new GatewayError('NOT_PAIRED', 'this node is no longer paired');
    }
    this.#trackSocket(conn, record.nodeId);
    return record;
  }

  #trackSocket(conn: NodeSocket, nodeId: string): void {
    let sockets = this.#sockets.get(nodeId);
    if (sockets?.has(conn.id)) return;
    if (conn.closed.aborted) return;
    if (!this.#nodes.has(nodeId)) {
      conn.close(CloseCode.revoked, 'this node was removed by an operator');
      return;
    }
    if (!sockets) {
      sockets = new Map();
      this.#sockets.set(nodeId, sockets);
    }
    sockets.set(conn.id, {
      close: (code, reason) => conn.close(code, reason),
      remoteAddress: conn.remoteAddress,
      connectedAt: Date.now(),
    });
    // The socket's own close signal is the backstop: presence never depends on
    // the transport remembering to call onConnectionClosed.
    conn.closed.addEventListener('abort', () => this.onConnectionClosed({ id: conn.id, nodeId }), {
      once: true,
    });
  }

  #declare(record: PairedNodeRecord, declaration: NodeHelloInput): void {
    record.declaredCommands = [...new Set(declaration.commands)];
    if (declaration.platform !== undefined) record.platform = declaration.platform;
    if (declaration.version !== undefined) record.version = declaration.version;
  }

  #goOffline(nodeId: string, reason: string): void {
    const live = this.#live.get(nodeId);
    if (!live) return;
    this.#live.delete(nodeId);
    this.#broker.detachConnection(live.connection.connectionId);
    const record = this.#nodes.get(nodeId);
    if (record) {
      record.lastSeenAt = Date.now();
      void this.#saveQuietly();
    }
    const name = record?.name ?? nodeId;
    this.#log.info({ nodeId, name, reason }, 'node offline');
    this.#emit({ type: 'node.offline', nodeId, name, reason });
  }

  /** For state that can be rebuilt (last seen, declared commands): a failed write is logged, not fatal. */
  async #saveQuietly(): Promise<void> {
    try {
      await this.#file.save([...this.#nodes.values()]);
    } catch (error) {
      this.#log.warn({ err: errorCode(error) }, 'could not save node state');
    }
  }

  #stateWriteFailed(error: unknown): GatewayError {
    this.#log.error({ err: errorCode(error) }, 'could not save node state');
    return new GatewayError(
      'UNAVAILABLE',
      'could not save the pairing state (is the state dir full or read-only?)',
    );
  }

  #emit(event: GatewayEventInput): void {
    this.#opts.events.emit(event);
  }
}

/** Declared by the node and covered by its approval. */
function allowedCommands(record: PairedNodeRecord): string[] {
  return record.declaredCommands.filter((c) =>
    record.approvedCommands.some((p) => commandPatternMatches(p, c)),
  );
}

/** Only the errno code goes to the log: messages can carry paths. */
function errorCode(error: unknown): string {
  return (error as NodeJS.ErrnoException)?.code ?? 'unknown';
}
