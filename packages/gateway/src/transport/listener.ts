import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { CloseCode } from '@loopgate/protocol';
import { type WebSocket, WebSocketServer } from 'ws';
import { addressKey } from '../auth/rate-limiter.js';

import {
  type AdmissionAccepted,
  type AdmissionDecision,
  writeUpgradeRefusal,
} from './admission.js';

export type ListenerOptions = {
  hosts: string[];
  port: number;
  tls?: { cert: string; key: string } | undefined;
  maxPayloadBytes: number;
  /** WebSocket cap per address; plain TCP connections get `EXTRA_CONNECTIONS_PER_ADDRESS` more. */
  maxConnectionsPerAddress: number;
  headersTimeoutMs: number;
  pingIntervalMs: number;
  pongTimeoutMs: number;
  /**
   * Sent on every HTTP answer (101, refusals, 426) so a probe can tell a
   * Loopgate gateway, and its version, from any other server. No secrets.
   */
  identityHeaders?: Record<string, string>;
  /** Headers for one accepted upgrade's 101 response (e.g. a per-socket challenge). */
  upgradeHeaders?(request: IncomingMessage): Record<string, string>;
  /** Decides, from headers and peer address alone, whether an upgrade may proceed. */
  admit(request: IncomingMessage): AdmissionDecision;
  /** Takes an accepted socket; returns its connection, which the listener closes on `close()`. */
  onConnection(
    socket: WebSocket,
    request: IncomingMessage,
    admission: AdmissionAccepted,
  ): StoppableConnection;
  /** Plain HTTP requests (webhooks); return false to answer 426. */
  onHttpRequest?(request: IncomingMessage, response: ServerResponse): boolean;
};

export type BoundAddress = { host: string; port: number; url: string };

/** A socket's connection, as the listener closes it when the gateway stops. */
export type StoppableConnection = {
  /**
   * Runs nothing the peer sends from now on, answers the calls already
   * running (for up to `graceMs`), then closes the socket with `code`.
   */
  closeWhenSettled(code: number, reason: string, graceMs: number): Promise<void>;
};

type Tracked = WebSocket & { loopgateAlive?: boolean; loopgatePingAt?: number };

/**
 * How long a graceful stop waits for the calls already running on a socket
 * (a `nodes.invoke`, an `agent.wait`) to be answered before closing it anyway.
 */
export const STOP_GRACE_MS = 2_000;

/** How long a peer gets to answer the stop's close frame before its socket is dropped. */
const STOP_CLOSE_HANDSHAKE_MS = 1_000;

/**
 * Parts one message may arrive in. Clients (ws, browsers, tRPC) do not
 * fragment what they send; with ws's default of 16 384 one socket, even
 * before auth, could park ~4 MiB of per-fragment bookkeeping for 16 KiB of
 * payload. 1 024 still allows a 4 MiB message in 4 KiB parts.
 */
export const MAX_FRAGMENTS_PER_MESSAGE = 1024;

/**
 * TCP connections an address may hold beyond its WebSocket cap: upgrades
 * waiting to be told 429, webhook POSTs, peers that have sent nothing yet.
 * Before a request is complete a connection takes no place under any cap,
 * yet costs a descriptor; without this bound one address holding ~1 000 idle
 * connections used up a 1 024-descriptor limit and nobody else got in.
 */
export const EXTRA_CONNECTIONS_PER_ADDRESS = 128;

/**
 * The sockets: one HTTP(S) server per bind host sharing one `ws` server in
 * `noServer` mode, so admission (Origin, Host, caps, lockouts) is decided
 * before the upgrade is accepted and a refused peer never gets a WebSocket.
 */
export class Listener {
  readonly #opts: ListenerOptions;
  readonly #servers: Server[] = [];
  readonly #wss: WebSocketServer;
  /** Open sockets, and the connection each one speaks through. */
  readonly #sockets = new Map<Tracked, StoppableConnection>();
  /** Open TCP connections per address key (IPv6 by /64), upgraded or not. */
  readonly #tcpByAddress = new Map<string, number>();
  #bound: BoundAddress[] = [];
  #pingTimer: NodeJS.Timeout | undefined;
  #closing = false;

  constructor(options: ListenerOptions) {
    this.#opts = options;
    this.#wss = new WebSocketServer({
      noServer: true,
      maxPayload: options.maxPayloadBytes,
      maxFragments: MAX_FRAGMENTS_PER_MESSAGE,
      perMessageDeflate: false,
      clientTracking: false,
    });
    const identity = Object.entries(options.identityHeaders ?? {});
    this.#wss.on('headers', (headers: string[], request: IncomingMessage) => {
      for (const [name, value] of identity) headers.push(`${name}: ${value}`);
      const perSocket = options.upgradeHeaders?.(request) ?? {};
      for (const [name, value] of Object.entries(perSocket)) headers.push(`${name}: ${value}`);
    });
  }

  get addresses(): BoundAddress[] {
    return this.#bound;
  }

  async listen(): Promise<BoundAddress[]> {
    let port = this.#opts.port;
    for (const host of this.#opts.hosts) {
      const server = this.#createServer();
      try {
        await listenOn(server, host, port);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        // ::1 may be missing (IPv6 disabled): loopback on IPv4 alone is fine.
        if (host === '::1' && (code === 'EADDRNOTAVAIL' || code === 'EAFNOSUPPORT')) continue;
        await this.close('listen failed');
        throw error;
      }
      this.#servers.push(server);
      // Port 0 picks a free port once; the other hosts reuse it so clients see one port.
      port = (server.address() as AddressInfo).port;
      const scheme = this.#opts.tls ? 'wss' : 'ws';
      const shown = host.includes(':') ? `[${host}]` : host;
      this.#bound.push({ host, port, url: `${scheme}://${shown}:${port}` });
    }
    this.#pingTimer = setInterval(() => this.#sweep(), this.#opts.pingIntervalMs);
    this.#pingTimer.unref();
    return this.#bound;
  }

  /**
   * Stops accepting and closes every socket with `reason` through its
   * connection, so that what a peer sends once the stop has begun is not run
   * while the calls already running are still answered (see
   * `StoppableConnection`); waits (bounded) for them to go.
   */
  async close(reason = 'gateway shutting down'): Promise<void> {
    this.#closing = true;
    clearInterval(this.#pingTimer);
    const closes = [...this.#sockets].map(
      ([socket, connection]) =>
        new Promise<void>((resolve) => {
          if (socket.readyState === socket.CLOSED) return resolve();
          socket.once('close', () => resolve());
          const closing = connection.closeWhenSettled(CloseCode.goingAway, reason, STOP_GRACE_MS);
          void closing.then(() =>
            setTimeout(() => {
              socket.terminate();
              resolve();
            }, STOP_CLOSE_HANDSHAKE_MS).unref(),
          );
        }),
    );
    await Promise.all(closes);
    await Promise.all(
      this.#servers.map(
        (server) =>
          new Promise<void>((resolve) => {
            server.close(() => resolve());
            server.closeAllConnections();
          }),
      ),
    );
    this.#servers.length = 0;
    this.#wss.close();
  }

  #createServer(): Server {
    const handler = (req: IncomingMessage, res: ServerResponse) => {
      if (this.#opts.onHttpRequest?.(req, res)) return;
      res.writeHead(426, {
        'content-type': 'text/plain',
        upgrade: 'websocket',
        ...this.#opts.identityHeaders,
      });
      res.end('Loopgate speaks tRPC over WebSocket here; connect with the loopgate client.\n');
    };
    // Node enforces headersTimeout only when it sweeps its connections, every
    // 30 s by default: a trickling peer would hang on ~30 s whatever the
    // timeout. A sweep every tenth of it keeps the cut close to the timeout.
    const connectionsCheckingInterval = Math.max(
      100,
      Math.min(1_000, Math.floor(this.#opts.headersTimeoutMs / 10)),
    );
    const server: Server = this.#opts.tls
      ? (createHttpsServer(
          { cert: this.#opts.tls.cert, key: this.#opts.tls.key, connectionsCheckingInterval },
          handler,
        ) as unknown as Server)
      : createHttpServer({ connectionsCheckingInterval }, handler);
    // Slowloris: a peer trickling headers is cut off quickly, upgrade or not.
    server.headersTimeout = this.#opts.headersTimeoutMs;
    server.requestTimeout = this.#opts.headersTimeoutMs * 2;
    server.on('connection', (socket: Socket) => this.#onTcpConnection(socket));
    server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) =>
      this.#onUpgrade(req, socket, head),
    );
    server.on('clientError', (_err, socket: Socket) => {
      // Headers timeout (slowloris) or a malformed request: answer if we can,
      // then drop the socket once the answer is out, since a peer that never
      // reads would otherwise hold it half-open.
      if (socket.writable)
        socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n', () => socket.destroy());
      else socket.destroy();
    });
    return server;
  }

  /** Drops a connection past its address's bound before a byte of it is read. */
  #onTcpConnection(socket: Socket): void {
    const key = addressKey(socket.remoteAddress ?? '');
    const open = (this.#tcpByAddress.get(key) ?? 0) + 1;
    if (open > this.#opts.maxConnectionsPerAddress + EXTRA_CONNECTIONS_PER_ADDRESS) {
      socket.destroy();
      return;
    }
    this.#tcpByAddress.set(key, open);
    socket.once('close', () => {
      const left = (this.#tcpByAddress.get(key) ?? 1) - 1;
      if (left <= 0) this.#tcpByAddress.delete(key);
      else this.#tcpByAddress.set(key, left);
    });
  }

  #onUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    if (this.#closing) {
      writeUpgradeRefusal(socket, {
        ok: false,
        status: 503,
        reason: 'gateway shutting down',
        headers: { ...this.#opts.identityHeaders },
      });
      return;
    }
    const decision = this.#opts.admit(req);
    if (!decision.ok) {
      writeUpgradeRefusal(socket, {
        ...decision,
        headers: { ...this.#opts.identityHeaders, ...decision.headers },
      });
      return;
    }
    this.#wss.handleUpgrade(req, socket, head, (ws) => {
      const tracked = ws as Tracked;
      tracked.loopgateAlive = true;
      ws.on('pong', () => {
        tracked.loopgateAlive = true;
      });
      ws.once('close', () => this.#sockets.delete(tracked));
      this.#sockets.set(tracked, this.#opts.onConnection(ws, req, decision));
    });
  }

  /**
   * Protocol-level keepalive: a peer that hasn't answered the previous ping
   * within `pongTimeoutMs` is terminated. One timer for all sockets.
   */
  #sweep(): void {
    const now = Date.now();
    for (const socket of this.#sockets.keys()) {
      if (
        !socket.loopgateAlive &&
        now - (socket.loopgatePingAt ?? now) >= this.#opts.pongTimeoutMs
      ) {
        socket.terminate();
        continue;
      }
      if (socket.loopgateAlive) {
        socket.loopgateAlive = false;
        socket.loopgatePingAt = now;
        socket.ping();
      }
    }
    // Check again once the pong deadline has passed, instead of a full interval later.
    setTimeout(() => {
      const deadline = Date.now() - this.#opts.pongTimeoutMs;
      for (const socket of this.#sockets.keys()) {
        if (
          !socket.loopgateAlive &&
          (socket.loopgatePingAt ?? Number.POSITIVE_INFINITY) <= deadline
        )
          socket.terminate();
      }
    }, this.#opts.pongTimeoutMs + 10).unref();
  }
}

function listenOn(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error) => reject(error);
    server.once('error', onError);
    // `::` is dual-stack by default on Linux and would also take the IPv4
    // port that the `0.0.0.0` listener (lan mode) already holds: EADDRINUSE.
    server.listen({ host, port, exclusive: true, ipv6Only: host === '::' }, () => {
      server.off('error', onError);
      resolve();
    });
  });
}
