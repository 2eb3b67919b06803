import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { LoopgateConfig } from '@loopgate/protocol';
import { CloseCode, NODE_CHALLENGE_HEADER } from '@loopgate/protocol';
import type { WebSocket } from 'ws';
import {
  type ConnectionAuthenticator,
  closeAtExpiry,
  type FailedAttemptLimiter,
  type PeerIdentity,
} from '../auth/index.js';
import { DurableEventBudget, type EventBus } from '../events/index.js';
import type { Logger } from '../log/index.js';
import { type NodeService, newChallenge } from '../nodes/index.js';
import { appRouter } from '../router/app-router.js';
import type { ConnectionInfo, GatewayContext } from '../router/context.js';
import type { GatewayServices } from '../services.js';
import {
  type AdmissionAccepted,
  type AdmissionDecision,
  type AdmissionPolicy,
  admitUpgrade,
  type PairingQuota,
  RpcConnection,
  type StoppableConnection,
} from '../transport/index.js';
import type { ConnectionRegistry } from './connection-registry.js';

/** Another WebSocket door on the same port, chosen by the upgrade request (e.g. its path). */
export type Endpoint = {
  owns(request: IncomingMessage): boolean;
  accept(socket: WebSocket, admission: AdmissionAccepted): SilentSocket & StoppableConnection;
};

/** A socket of any endpoint that may not have sent its credential yet. */
type SilentSocket = Pick<RpcConnection, 'awaitingCredentials' | 'close' | 'terminate'>;

export type AcceptorOptions = {
  config: LoopgateConfig;
  registry: ConnectionRegistry;
  authenticator: ConnectionAuthenticator;
  limiter: FailedAttemptLimiter;
  pairingQuota: PairingQuota;
  nodes: Pick<NodeService, 'onConnectionOpened' | 'onConnectionClosed'>;
  events: Pick<EventBus, 'emit'>;
  log: Logger;
  services: GatewayServices;
  /** Host, Origin and cap rules; set by `start()` once the bind hosts are known. */
  policy(): AdmissionPolicy;
  /** Whether sockets arrive over TLS. */
  tls(): boolean;
  /** Doors tried before the tRPC one, in order; the first that owns the request takes it. */
  endpoints?: readonly Endpoint[];
};

/**
 * The gateway side of one WebSocket, from the upgrade request to the close:
 * admission (before the upgrade is accepted), the per-socket node challenge,
 * the socket counts, then the door: another endpoint that owns the request
 * (see `endpoints`), else tRPC with its authentication. Every door reports
 * an authenticated socket through `joined` and `left`, so the registry,
 * presence and the `connection.*` events are the same whichever it came by.
 */
export class ConnectionAcceptor {
  readonly #opts: AcceptorOptions;
  /** The challenge each accepted upgrade's response carried, until its socket authenticates. */
  readonly #challenges = new WeakMap<IncomingMessage, string>();
  /** Sockets in the order they were accepted, until they present a credential or close. */
  readonly #silent = new Set<SilentSocket>();
  /** Connection events per credential below admin (see DurableEventBudget). */
  readonly #connectionEventBudget = new DurableEventBudget();
  /** Sockets whose `connection.opened` was durable: their `connection.closed` is too. */
  readonly #durableConnections = new Set<string>();

  constructor(options: AcceptorOptions) {
    this.#opts = options;
  }

  /** Headers alone decide whether the upgrade may proceed (see transport/admission.ts). */
  admit(request: IncomingMessage): AdmissionDecision {
    const { registry } = this.#opts;
    return admitUpgrade(
      { headers: request.headers, remoteAddress: request.socket.remoteAddress },
      {
        policy: this.#opts.policy(),
        connections: {
          total: () => registry.socketCount,
          forAddress: (key) => registry.socketsFrom(key),
          makeRoom: () => this.#evictOldestSilent(),
        },
        limiter: this.#opts.limiter,
        now: Date.now(),
      },
    );
  }

  /** A fresh challenge in every 101 response, which a node signs to prove its key. */
  upgradeHeaders(request: IncomingMessage): Record<string, string> {
    const challenge = newChallenge();
    this.#challenges.set(request, challenge);
    return { [NODE_CHALLENGE_HEADER]: challenge };
  }

  accept(
    socket: WebSocket,
    request: IncomingMessage,
    admission: AdmissionAccepted,
  ): StoppableConnection {
    const { config, log } = this.#opts;
    socket.once('close', this.#opts.registry.socketAccepted(admission.addressKey));
    const endpoint = this.#opts.endpoints?.find((candidate) => candidate.owns(request));
    if (endpoint) {
      const connection = endpoint.accept(socket, admission);
      this.#trackSilent(connection, socket);
      return connection;
    }
    const rpc: RpcConnection = new RpcConnection({
      router: appRouter,
      socket,
      request,
      limits: config.gateway.limits,
      authenticate: (params) => {
        const identity = this.#opts.authenticator.authenticate({
          params,
          attemptSource: admission.attemptSource,
          tailscaleIdentity: admission.tailscaleIdentity,
          challenge: this.#challenges.get(request),
        });
        return identity instanceof Promise
          ? identity.then((peer) => this.#opened(peer, admission, rpc))
          : this.#opened(identity, admission, rpc);
      },
      onError: (error, path) => {
        if (error.code === 'INTERNAL_SERVER_ERROR')
          log.error({ path, err: error.cause ?? error }, 'procedure failed');
      },
      onClosed: (ctx, code) => {
        if (ctx) this.#closed(ctx.conn, admission, code);
      },
    });
    this.#trackSilent(rpc, socket);
    return rpc;
  }

  /** Either door's socket that holds a place with no credential yet, forgotten when it closes. */
  #trackSilent(conn: SilentSocket, socket: WebSocket): void {
    if (!conn.awaitingCredentials) return;
    this.#silent.add(conn);
    socket.once('close', () => this.#silent.delete(conn));
  }

  /** Closes the oldest socket that has sent nothing yet, to admit a new one at the global cap. */
  #evictOldestSilent(): boolean {
    for (const rpc of this.#silent) {
      this.#silent.delete(rpc);
      if (!rpc.awaitingCredentials) continue;
      rpc.close(
        CloseCode.tryAgainLater,
        'LIMIT_EXCEEDED: the gateway is full and this socket had not authenticated; it made room for another',
      );
      rpc.terminate();
      return true;
    }
    return false;
  }

  #opened(peer: PeerIdentity, admission: AdmissionAccepted, rpc: RpcConnection): GatewayContext {
    if (peer.role === 'pairing') this.#opts.pairingQuota.acquire(admission.addressKey);
    const info: ConnectionInfo = {
      id: randomUUID(),
      ...peer,
      tls: this.#opts.tls(),
      remoteAddress: admission.remoteAddress,
      isLoopback: admission.isLoopback,
      connectedAt: Date.now(),
      close: (code, reason) => rpc.close(code, reason),
      closed: rpc.closedSignal,
    };
    this.joined(info);
    return { conn: info, services: this.#opts.services };
  }

  /** An authenticated socket (of any door) joins the registry, presence and events. */
  joined(info: ConnectionInfo): void {
    this.#opts.registry.authenticated(info);
    closeAtExpiry(info);
    this.#opts.nodes.onConnectionOpened(info);
    // An unpaired peer proved only a key it made up: its comings and goings are not
    // durable events, or a stranger connecting in a loop would push every real event
    // out of the replay buffer operators resume from. Its request is (node.pair.requested).
    if (info.role !== 'pairing') {
      this.#opts.events.emit(
        {
          type: 'connection.opened',
          connectionId: info.id,
          role: info.role,
          remoteAddress: info.remoteAddress,
          ...(info.clientName ? { clientName: info.clientName } : {}),
        },
        { liveOnly: !this.#durablyOpened(info) },
      );
    }
  }

  /**
   * Whether a socket's coming and going are durable events. An admin may do
   * worse than flush the log, and the local CLI connects as admin for every
   * command, so admin credentials are not counted.
   */
  #durablyOpened(info: ConnectionInfo): boolean {
    const key =
      info.principal === 'operator.admin'
        ? undefined
        : info.role === 'node'
          ? `node:${info.nodeId}`
          : `${info.credential}:${info.credentialName ?? ''}`;
    const durable = key === undefined || this.#connectionEventBudget.take(key);
    if (durable) this.#durableConnections.add(info.id);
    return durable;
  }

  #closed(conn: ConnectionInfo, admission: AdmissionAccepted, code: number): void {
    if (conn.role === 'pairing') this.#opts.pairingQuota.release(admission.addressKey);
    this.left(conn, code);
  }

  /** ...and leaves them when it closes. */
  left(conn: ConnectionInfo, code: number): void {
    this.#opts.registry.closed(conn.id);
    this.#opts.nodes.onConnectionClosed(conn, code);
    if (conn.role === 'pairing') return;
    this.#opts.events.emit(
      { type: 'connection.closed', connectionId: conn.id, role: conn.role, code },
      { liveOnly: !this.#durableConnections.delete(conn.id) },
    );
  }
}
