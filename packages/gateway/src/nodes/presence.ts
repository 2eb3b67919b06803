import { CloseCode, GatewayError, type GatewayEventInput } from '@loopgate/protocol';
import type { Logger } from 'pino';
import { DurableEventBudget } from '../events/index.js';
import type { NodeConnection } from './invoke-broker.js';
import { allowedCommands, type NodeRegistry } from './node-registry.js';
import type { PairedNodeRecord } from './node-store.js';

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

export type LiveNode = {
  connection: NodeConnection;
  connectedAt: number;
  remoteAddress: string;
  /** Whether its `node.online` was durable: its `node.offline` is then too. */
  durable: boolean;
};
type TrackedSocket = Pick<NodeSocket, 'close'>;

export type NodePresenceOptions = {
  registry: NodeRegistry;
  events: { emit(event: GatewayEventInput, options?: { liveOnly?: boolean }): unknown };
  log: Pick<Logger, 'info'>;
  /** The node's invocation stream is gone: fail what it was running. */
  onStreamGone: (connectionId: string) => void;
  /** A tracked socket closed (the backstop when the transport does not say so). */
  onSocketClosed: (socket: { id: string; nodeId: string }) => void;
};

/**
 * Which nodes are online: every authenticated socket per node (so a revoke
 * can close them all) and the one connection each node receives invocations
 * on.
 */
export class NodePresence {
  readonly #opts: NodePresenceOptions;
  readonly #live = new Map<string, LiveNode>();
  readonly #sockets = new Map<string, Map<string, TrackedSocket>>();
  /** A node going on and offline in a loop must not flush the durable log (see DurableEventBudget). */
  readonly #presenceEventBudget = new DurableEventBudget();
  /** Presence changes past the budget not yet in a log line, per node. */
  readonly #unlogged = new Map<string, { online: number; offline: number }>();

  constructor(options: NodePresenceOptions) {
    this.#opts = options;
  }

  get onlineCount(): number {
    return this.#live.size;
  }

  live(nodeId: string): LiveNode | undefined {
    return this.#live.get(nodeId);
  }

  /** Remembers an authenticated node socket; one of a node no longer paired is closed. */
  track(conn: NodeSocket, nodeId: string): void {
    let sockets = this.#sockets.get(nodeId);
    if (sockets?.has(conn.id)) return;
    if (conn.closed.aborted) return;
    if (!this.#opts.registry.get(nodeId)) {
      conn.close(CloseCode.revoked, 'this node was removed by an operator');
      return;
    }
    if (!sockets) {
      sockets = new Map();
      this.#sockets.set(nodeId, sockets);
    }
    sockets.set(conn.id, { close: (code, reason) => conn.close(code, reason) });
    // The socket's own close signal is the backstop: presence never depends on
    // the transport remembering to call onConnectionClosed.
    conn.closed.addEventListener(
      'abort',
      () => this.#opts.onSocketClosed({ id: conn.id, nodeId }),
      { once: true },
    );
  }

  socketClosed(connectionId: string, nodeId: string, code?: number): void {
    const sockets = this.#sockets.get(nodeId);
    sockets?.delete(connectionId);
    if (sockets?.size === 0) this.#sockets.delete(nodeId);
    if (this.#live.get(nodeId)?.connection.connectionId === connectionId) {
      this.goOffline(nodeId, code === undefined ? 'disconnected' : `disconnected (${code})`);
    }
  }

  /**
   * The node starts receiving invocations on `connection`. A previous
   * connection of the same node is closed: its calls fail with NODE_DISCONNECTED.
   */
  attach(record: PairedNodeRecord, connection: NodeConnection, remoteAddress: string): void {
    const previous = this.#live.get(record.nodeId);
    if (previous?.connection.connectionId === connection.connectionId) {
      throw new GatewayError('CONFLICT', 'this connection already receives invocations');
    }
    if (previous) {
      // Usually the old socket of a node that reconnected before its drop was
      // noticed; a final close code also stops a second process running with
      // the same identity from fighting over the node.
      this.goOffline(record.nodeId, 'replaced by a newer connection');
      previous.connection.close(
        CloseCode.forbidden,
        'replaced by a newer connection of the same node',
      );
    }
    const now = Date.now();
    const durable = this.#presenceEventBudget.take(record.nodeId, now);
    this.#live.set(record.nodeId, { connection, connectedAt: now, remoteAddress, durable });
    record.lastSeenAt = now;
    void this.#opts.registry.saveQuietly();
    this.#logPresence('online', durable, { nodeId: record.nodeId, name: record.name });
    this.#opts.events.emit(
      {
        type: 'node.online',
        nodeId: record.nodeId,
        name: record.name,
        commands: allowedCommands(record),
      },
      { liveOnly: !durable },
    );
  }

  /** The invocation stream of `connection` ended (unsubscribed or socket closed). */
  detach(connection: NodeConnection, reason: string): void {
    if (this.#live.get(connection.nodeId)?.connection === connection)
      this.goOffline(connection.nodeId, reason);
  }

  goOffline(nodeId: string, reason: string): void {
    const live = this.#live.get(nodeId);
    if (!live) return;
    this.#live.delete(nodeId);
    this.#opts.onStreamGone(live.connection.connectionId);
    const record = this.#opts.registry.get(nodeId);
    if (record) {
      record.lastSeenAt = Date.now();
      void this.#opts.registry.saveQuietly();
    }
    const name = record?.name ?? nodeId;
    this.#logPresence('offline', live.durable, { nodeId, name, reason });
    this.#opts.events.emit(
      { type: 'node.offline', nodeId, name, reason },
      { liveOnly: !live.durable },
    );
  }

  /** Takes the node offline and closes every socket it has; returns how many were closed. */
  disconnect(nodeId: string, code: number, reason: string): number {
    const toClose = new Map<string, TrackedSocket>(this.#sockets.get(nodeId));
    const live = this.#live.get(nodeId);
    if (live && !toClose.has(live.connection.connectionId))
      toClose.set(live.connection.connectionId, live.connection);
    this.goOffline(nodeId, 'removed');
    this.#sockets.delete(nodeId);
    for (const socket of toClose.values()) socket.close(code, reason);
    return toClose.size;
  }

  /** Every node goes offline (the gateway is stopping). */
  offlineAll(reason: string): void {
    for (const nodeId of [...this.#live.keys()]) this.goOffline(nodeId, reason);
    for (const [nodeId, held] of this.#unlogged) {
      for (const kind of ['online', 'offline'] as const)
        if (held[kind] > 0)
          this.#opts.log.info({ nodeId, heldBack: held[kind] }, `node ${kind} (held back)`);
    }
    this.#unlogged.clear();
  }

  /**
   * A presence change gets its log line when its event is durable; past the
   * node's budget it is only counted, and the next line of that kind (or
   * the gateway's stop) carries the count as `heldBack`. A node toggling its
   * invocation stream in a loop wrote two lines a turn, without bound.
   */
  #logPresence(
    kind: 'online' | 'offline',
    durable: boolean,
    fields: { nodeId: string; name: string; reason?: string },
  ): void {
    const held = this.#unlogged.get(fields.nodeId) ?? { online: 0, offline: 0 };
    if (!durable) {
      held[kind]++;
      this.#unlogged.set(fields.nodeId, held);
      return;
    }
    const heldBack = held[kind];
    held[kind] = 0;
    if (held.online === 0 && held.offline === 0) this.#unlogged.delete(fields.nodeId);
    this.#opts.log.info({ ...fields, ...(heldBack > 0 ? { heldBack } : {}) }, `node ${kind}`);
  }
}
