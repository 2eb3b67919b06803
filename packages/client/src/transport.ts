import type { ClientRequest, IncomingMessage } from 'node:http';
import { CloseCode, GatewayError, NODE_CHALLENGE_HEADER } from '@loopgate/protocol';
import type { CombinedDataTransformer } from '@trpc/server';
import type WebSocket from 'ws';
import { type BackoffOptions, DEFAULT_BACKOFF, nextReconnectDelay } from './backoff.js';
import {
  type ConnectionState,
  type ConnectionStateListener,
  ConnectionStateStore,
} from './connection-state.js';
import {
  classifyClose,
  classifyConnectFailure,
  classifyHttpRejection,
  type Disconnect,
  inFlightError,
  isCredentialRefusal,
} from './disconnect.js';
import { displayUrl, gatewayErrorFromShape } from './errors.js';
import { foreignLocalPeer } from './local-peer.js';

const RESOLVED = Promise.resolve();

/** First-retry window after a 1001: 200 clients spread to ~5 % per 100 ms. */
const RESTART_SPREAD_MS = 2_000;

/**
 * The longest wait a gateway's `Retry-After` or `retryAfterMs` is taken at.
 * Past 2^31 ms a timer fires at once, so an unbounded figure from a hostile
 * server (or whoever holds its port) turned "wait three years" into a redial
 * every millisecond; and no real rate limit outlasts this.
 */
const MAX_RETRY_AFTER_MS = 5 * 60_000;

/**
 * The part of a `ws` WebSocket the transport uses. A socket factory (TLS
 * pinning, an SSH tunnel, a test) may return anything with this shape.
 */
export interface GatewaySocket {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  terminate(): void;
  on(event: 'open', listener: () => void): unknown;
  on(event: 'message', listener: (data: WebSocket.RawData, isBinary: boolean) => void): unknown;
  on(event: 'close', listener: (code: number, reason: Buffer) => void): unknown;
  on(event: 'error', listener: (error: Error) => void): unknown;
  on(event: 'upgrade', listener: (response: IncomingMessage) => void): unknown;
  on(
    event: 'unexpected-response',
    listener: (request: ClientRequest, response: IncomingMessage) => void,
  ): unknown;
}

/** Options the transport wants every socket opened with; a factory should pass them on to `ws`. */
export type SocketOptions = { handshakeTimeout: number; perMessageDeflate: false };

/**
 * Opens one WebSocket. Throwing (or emitting `error` with) a
 * `GatewayError('TLS_PIN_MISMATCH')` puts the client in `pin-mismatch`.
 */
export type SocketFactory = (url: string, options: SocketOptions) => GatewaySocket;

export type CallType = 'query' | 'mutation' | 'subscription';

/** Where the transport reports what happened to one call. */
export interface CallHandlers {
  /** A query/mutation result (the call is finished), or one subscription event. */
  data(data: unknown, eventId: string | number | undefined): void;
  /** The subscription is running on the server (reported once, not again after a resume). */
  started(): void;
  /** The subscription ended without error (the server finished it, or the client was closed). */
  stopped(): void;
  /** The call failed; `shape` is the server's error shape when the server sent one. */
  error(error: GatewayError, shape: unknown): void;
}

export type TransportOptions = {
  url: string;
  connectionParams: Record<string, string>;
  /** Extra connectionParams per socket, from the challenge its upgrade response carried. */
  challengeParams?: ((challenge: string) => Record<string, string>) | undefined;
  transformer: CombinedDataTransformer;
  /** `false`: fail instead of reconnecting (one-shot commands). */
  retry: boolean;
  createSocket: SocketFactory;
  /** Most requests sent in one frame. */
  maxBatchSize: number;
  backoff: BackoffOptions;
  random: () => number;
  /** Interval of the `PING` keepalive (also the latency probe); 0 disables it. */
  keepAliveMs: number;
  handshakeTimeoutMs: number;
  /**
   * After a drop, calls not yet sent wait this long for the connection to
   * come back before failing; after that, calls fail at once while the
   * gateway stays unreachable.
   */
  reconnectGraceMs: number;
  /** A connection that stayed open this long resets the backoff. */
  stableAfterMs: number;
  /** How long `close()` waits for calls in flight. */
  closeTimeoutMs: number;
};

export const DEFAULT_TRANSPORT_OPTIONS = {
  maxBatchSize: 64,
  backoff: DEFAULT_BACKOFF,
  random: Math.random,
  keepAliveMs: 15_000,
  handshakeTimeoutMs: 10_000,
  reconnectGraceMs: 5_000,
  stableAfterMs: 5_000,
  closeTimeoutMs: 1_000,
} satisfies Partial<TransportOptions>;

const QUEUED = 0;
const SENT = 1;
const DONE = 2;
type Phase = typeof QUEUED | typeof SENT | typeof DONE;

const OPEN = 1;
const CONNECTING = 0;

/** One query, mutation or subscription, from the caller's request until its end. */
export class Call {
  /** The id on the wire; a fresh one each time the call is (re)sent, so late frames of an earlier send never match. */
  id = 0;
  phase: Phase = QUEUED;
  conn: Connection | null = null;
  /** Subscriptions: the last tracked event id, sent as `lastEventId` on resume. */
  lastEventId: string | number | undefined = undefined;
  announcedStart = false;

  constructor(
    readonly type: CallType,
    readonly path: string,
    readonly input: unknown,
    readonly handlers: CallHandlers,
  ) {}
}

/** One WebSocket and what the transport knows about it. */
class Connection {
  openedAt = 0;
  /** Queries/mutations sent on this socket and not answered yet. */
  inFlight = 0;
  /** Replaced by a newer connection after a server `reconnect` request; closes once drained. */
  retired = false;
  error: unknown = undefined;
  rejection: Disconnect | undefined = undefined;
  serverError: GatewayError | undefined = undefined;
  keepAlive: NodeJS.Timeout | undefined = undefined;
  pingSentAt = 0;
  pingOutstanding = false;
  heardSincePing = false;
  /** The gateway's one-time challenge for this socket (upgrade response header). */
  challenge: string | undefined = undefined;
  /** Whose program answered on a loopback port (see local-peer.ts); settled before any credential is sent. */
  peerCheck: Promise<number | undefined> | undefined = undefined;

  constructor(readonly ws: GatewaySocket) {}
}

type Final = { state: 'unauthorized' | 'pin-mismatch' | 'closed'; error: GatewayError | undefined };

/**
 * The client's side of tRPC's WebSocket protocol: one socket at a time,
 * requests batched per microtask, jittered reconnects, subscriptions resumed
 * from their last tracked event, credentials refusals treated as final.
 * Knows nothing of tRPC's client machinery; the link adapts it.
 */
export class GatewayTransport {
  readonly url: string;
  readonly #opts: TransportOptions;
  readonly #state: ConnectionStateStore;
  readonly #socketUrl: string;
  readonly #paramsFrame: string;
  readonly #calls = new Map<number, Call>();
  #outbox: Call[] = [];
  #flushScheduled = false;
  #nextId = 0;
  #active: Connection | null = null;
  #connecting: Connection | null = null;
  readonly #conns = new Set<Connection>();
  #retryTimer: NodeJS.Timeout | undefined;
  /** Consecutive failed attempts (and quick drops) since the last stable connection. */
  #failures = 0;
  /**
   * Set when the gateway closed with 1001 (going away: a restart or shutdown).
   * Every client was dropped in the same instant, so the first retries are
   * spread over a wider window than an ordinary drop needs, or they would all
   * redial the restarted gateway in the same instant.
   */
  #fleetDropped = false;
  #everOpened = false;
  #droppedAt = 0;
  /** The gateway is known to be unreachable: new calls fail at once instead of waiting. */
  #failFast = false;
  #lastError: GatewayError | undefined;
  #final: Final | undefined;
  #closing: Promise<void> | undefined;
  #onDrained: (() => void) | undefined;
  #latencyMs: number | undefined;

  constructor(opts: TransportOptions) {
    this.#opts = opts;
    this.url = displayUrl(opts.url);
    this.#socketUrl = `${opts.url}${opts.url.includes('?') ? '&' : '?'}connectionParams=1`;
    this.#paramsFrame = JSON.stringify({ method: 'connectionParams', data: opts.connectionParams });
    this.#state = new ConnectionStateStore({ state: 'connecting' });
    this.#connect();
  }

  get state(): ConnectionState {
    return this.#state.get();
  }

  subscribeState(listener: ConnectionStateListener): () => void {
    return this.#state.subscribe(listener);
  }

  /** Round trip of the last `PING`/`PONG`, in milliseconds. */
  get latencyMs(): number | undefined {
    return this.#latencyMs;
  }

  /** Starts a call. Its outcome arrives through `handlers`, possibly before this returns. */
  request(type: CallType, path: string, input: unknown, handlers: CallHandlers): Call {
    let refusal: GatewayError | undefined;
    if (this.#final || this.#closing) refusal = this.#final?.error ?? closedError();
    else if (this.#active === null && this.#failFast && type !== 'subscription')
      refusal = this.#lastError;
    let serialized: unknown;
    if (refusal === undefined) {
      try {
        serialized = this.#opts.transformer.input.serialize(input);
      } catch {
        refusal = new GatewayError('BAD_REQUEST', `the input of ${path} cannot be serialized`);
      }
    }
    const call = new Call(type, path, serialized, handlers);
    if (refusal !== undefined) {
      call.phase = DONE;
      handlers.error(refusal, undefined);
      return call;
    }
    this.#enqueue(call);
    return call;
  }

  /**
   * Ends a call on the caller's behalf (unsubscribe, abort). A running
   * subscription is stopped on the server; a query or mutation already sent
   * cannot be recalled, its answer is ignored.
   */
  cancel(call: Call, error?: GatewayError): void {
    if (call.phase === DONE) return;
    const wasSent = call.phase === SENT;
    const conn = call.conn;
    this.#finish(call);
    if (wasSent && call.type === 'subscription' && conn) sendStop(conn, call.id);
    if (error) call.handlers.error(error, undefined);
  }

  /**
   * Stops reconnecting, ends subscriptions, cancels calls not yet sent, waits
   * (briefly) for calls in flight, then closes the socket.
   */
  close(): Promise<void> {
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  async #shutdown(): Promise<void> {
    clearTimeout(this.#retryTimer);
    const cancelled = new GatewayError(
      'CANCELLED',
      'the client was closed before the call was sent',
    );
    const queued = this.#outbox;
    this.#outbox = [];
    for (const call of queued) {
      if (call.phase !== QUEUED) continue;
      call.phase = DONE;
      if (call.type === 'subscription') call.handlers.stopped();
      else call.handlers.error(cancelled, undefined);
    }
    for (const call of [...this.#calls.values()]) {
      if (call.type !== 'subscription') continue;
      const conn = call.conn;
      this.#finish(call);
      if (conn) sendStop(conn, call.id);
      call.handlers.stopped();
    }
    if (this.#calls.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        this.#onDrained = resolve;
        timer = setTimeout(resolve, this.#opts.closeTimeoutMs);
      });
      clearTimeout(timer);
      this.#onDrained = undefined;
    }
    this.#finalize({ state: 'closed', error: undefined }, closedError());
    await Promise.all(
      [...this.#conns].map((conn) => closeSocket(conn.ws, this.#opts.closeTimeoutMs)),
    );
  }

  #enqueue(call: Call): void {
    call.phase = QUEUED;
    call.conn = null;
    this.#outbox.push(call);
    if (this.#active !== null && !this.#flushScheduled) {
      this.#flushScheduled = true;
      // queueMicrotask without the AsyncResource Node wraps around each of its callbacks
      RESOLVED.then(this.#flush);
    }
  }

  /** Sends everything queued in this tick, at most `maxBatchSize` requests per frame. */
  readonly #flush = (): void => {
    this.#flushScheduled = false;
    const conn = this.#active;
    // A socket already closing keeps the calls queued: its close event
    // reconnects, and calls never sent are then sent, not failed.
    if (conn === null || this.#outbox.length === 0 || conn.ws.readyState !== OPEN) return;
    const queued = this.#outbox;
    this.#outbox = [];
    const max = this.#opts.maxBatchSize;
    let batch: unknown[] = [];
    for (const call of queued) {
      if (call.phase !== QUEUED) continue;
      call.id = ++this.#nextId;
      call.phase = SENT;
      call.conn = conn;
      this.#calls.set(call.id, call);
      if (call.type !== 'subscription') conn.inFlight++;
      batch.push(
        call.lastEventId === undefined
          ? { id: call.id, method: call.type, params: { path: call.path, input: call.input } }
          : {
              id: call.id,
              method: call.type,
              params: { path: call.path, input: call.input, lastEventId: call.lastEventId },
            },
      );
      if (batch.length === max) {
        conn.ws.send(JSON.stringify(batch));
        batch = [];
      }
    }
    if (batch.length === 1) conn.ws.send(JSON.stringify(batch[0]));
    else if (batch.length > 1) conn.ws.send(JSON.stringify(batch));
  };

  readonly #connect = (): void => {
    this.#retryTimer = undefined;
    if (this.#final || this.#closing || this.#connecting) return;
    let ws: GatewaySocket;
    try {
      ws = this.#opts.createSocket(this.#socketUrl, {
        handshakeTimeout: this.#opts.handshakeTimeoutMs,
        perMessageDeflate: false,
      });
    } catch (error) {
      // A factory that refuses synchronously (bad URL, TLS pin already known wrong).
      this.#onFailure(classifyConnectFailure(error, this.url));
      return;
    }
    const conn = new Connection(ws);
    this.#connecting = conn;
    this.#conns.add(conn);
    ws.on('upgrade', (response) => {
      const header = response.headers[NODE_CHALLENGE_HEADER];
      if (typeof header === 'string') conn.challenge = header;
      conn.peerCheck = foreignLocalPeer(response.socket ?? {});
    });
    ws.on('open', () => void this.#onOpen(conn));
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      try {
        this.#onMessage(conn, data.toString());
      } catch (error) {
        // A subscriber's callback threw. The frame's bookkeeping is done; let
        // the error surface as uncaught instead of stalling the socket's reader.
        queueMicrotask(() => {
          throw error;
        });
      }
    });
    ws.on('error', (error) => {
      conn.error ??= error;
    });
    ws.on('unexpected-response', (_request, response) => this.#onHttpRejection(conn, response));
    ws.on('close', (code, reason) => this.#onClose(conn, code, reason.toString()));
  };

  async #onOpen(conn: Connection): Promise<void> {
    const foreignUid = await conn.peerCheck;
    if (conn.ws.readyState !== OPEN) return; // closed meanwhile: its close event reports it
    if (this.#final || this.#closing) {
      conn.ws.close(1000);
      return;
    }
    if (foreignUid !== undefined) {
      // Another user's program on the gateway's port: it gets no credential.
      conn.rejection = { final: false, error: foreignPeerError(this.url, foreignUid) };
      conn.ws.terminate();
      return;
    }
    conn.ws.send(this.#paramsFrameFor(conn));
    conn.openedAt = Date.now();
    this.#startKeepAlive(conn);
    const previous = this.#active;
    this.#connecting = null;
    this.#active = conn;
    this.#everOpened = true;
    this.#fleetDropped = false;
    this.#failFast = false;
    this.#lastError = undefined;
    this.#state.set({ state: 'open', since: conn.openedAt });
    if (previous) this.#retire(previous);
    this.#flush();
  }

  #paramsFrameFor(conn: Connection): string {
    const prove = this.#opts.challengeParams;
    if (!prove || conn.challenge === undefined) return this.#paramsFrame;
    const data = { ...this.#opts.connectionParams, ...prove(conn.challenge) };
    return JSON.stringify({ method: 'connectionParams', data });
  }

  /**
   * The gateway asked for a reconnect and the new socket is open: move the
   * subscriptions over (stopped there, resumed here from their last event),
   * let the old socket answer what it already has, then close it.
   */
  #retire(previous: Connection): void {
    previous.retired = true;
    for (const call of [...this.#calls.values()]) {
      if (call.conn !== previous || call.type !== 'subscription') continue;
      this.#calls.delete(call.id);
      sendStop(previous, call.id);
      this.#enqueue(call);
    }
    if (previous.inFlight === 0) previous.ws.close(1000, 'replaced');
  }

  #onHttpRejection(conn: Connection, response: IncomingMessage): void {
    let body = '';
    response.setEncoding('utf8');
    response.on('data', (chunk: string) => {
      body += chunk;
      if (body.length > 1024) response.destroy();
    });
    const done = () => {
      if (conn.rejection) return;
      conn.rejection = classifyHttpRejection(
        response.statusCode ?? 0,
        response.headers,
        body,
        this.url,
      );
      conn.ws.terminate();
    };
    response.on('end', done);
    response.on('close', done);
  }

  #onMessage(conn: Connection, text: string): void {
    conn.heardSincePing = true;
    if (text.length === 4) {
      if (text === 'PING') {
        conn.ws.send('PONG');
        return;
      }
      if (text === 'PONG') {
        this.#onPong(conn);
        return;
      }
    }
    let msg: WireMessage;
    try {
      msg = JSON.parse(text);
    } catch {
      return; // not tRPC; nothing to route it to
    }
    if (msg === null || typeof msg !== 'object') return;
    if (msg.method !== undefined) {
      if (msg.method === 'reconnect') this.#onReconnectRequested(conn);
      return;
    }
    const id = msg.id;
    if (id === null || id === undefined) {
      if (msg.error !== undefined) this.#onConnectionError(conn, msg.error);
      return;
    }
    const call = this.#calls.get(id as number);
    if (call === undefined || call.conn !== conn) return;
    if (msg.error !== undefined) {
      this.#fail(call, msg.error);
      return;
    }
    const result = msg.result;
    if (result === null || typeof result !== 'object') return;
    switch (result.type) {
      case 'started':
        if (!call.announcedStart) {
          call.announcedStart = true;
          call.handlers.started();
        }
        return;
      case 'stopped':
        this.#finish(call);
        call.handlers.stopped();
        return;
      default: {
        let data: unknown;
        try {
          data = this.#opts.transformer.output.deserialize(result.data);
        } catch {
          this.#finish(call);
          call.handlers.error(
            new GatewayError('INTERNAL', `could not decode the gateway's answer to ${call.path}`),
            undefined,
          );
          return;
        }
        if (call.type === 'subscription') {
          if (result.id !== undefined) call.lastEventId = result.id;
        } else {
          this.#finish(call);
        }
        call.handlers.data(data, result.id);
      }
    }
  }

  #fail(call: Call, rawShape: unknown): void {
    let shape: unknown;
    try {
      shape = this.#opts.transformer.output.deserialize(rawShape);
    } catch {
      // An error shape that does not decode still fails the call, with the generic error below.
      shape = undefined;
    }
    this.#finish(call);
    call.handlers.error(gatewayErrorFromShape(shape), shape);
  }

  /** `{ id: null, error }`: about the connection itself, e.g. a failed `createContext`. */
  #onConnectionError(conn: Connection, rawShape: unknown): void {
    let shape: unknown;
    try {
      shape = this.#opts.transformer.output.deserialize(rawShape);
    } catch {
      // A connection error we cannot decode carries nothing to act on; the close that follows is reported.
      return;
    }
    const error = gatewayErrorFromShape(shape);
    conn.serverError = error;
    if (conn === this.#active && isCredentialRefusal(error)) {
      // Do not wait for the server to close (a stock server closes on the
      // next tick, ours with 4001): fail everything now and stop for good.
      this.#finalize({ state: 'unauthorized', error }, error);
    }
  }

  #onReconnectRequested(conn: Connection): void {
    if (
      conn !== this.#active ||
      this.#connecting ||
      this.#retryTimer ||
      this.#final ||
      this.#closing
    )
      return;
    // Every client hears this at once: spread the new connections out.
    this.#retryTimer = setTimeout(
      this.#connect,
      nextReconnectDelay(0, this.#opts.random, this.#opts.backoff),
    );
  }

  #onClose(conn: Connection, code: number, reason: string): void {
    clearInterval(conn.keepAlive);
    this.#conns.delete(conn);
    if (this.#final) return;
    if (this.#closing) {
      // Closed under us while `close()` waited for calls in flight.
      this.#failInFlight(conn, closedError());
      return;
    }
    if (conn === this.#connecting) {
      this.#connecting = null;
      const outcome =
        conn.rejection ??
        (conn.serverError
          ? classifyClose(code, reason, conn.serverError, this.url)
          : classifyConnectFailure(conn.error, this.url));
      if (this.#active) {
        // A replacement for a connection the gateway asked us to leave failed;
        // the old one keeps serving until it closes.
        if (outcome.final) this.#finalize(outcome, outcome.error);
        return;
      }
      this.#onFailure(outcome);
      return;
    }
    const outcome = conn.rejection ?? classifyClose(code, reason, conn.serverError, this.url);
    this.#failInFlight(conn, inFlightError(outcome, this.url));
    if (conn !== this.#active) return; // a retired connection finished draining
    this.#active = null;
    this.#droppedAt = Date.now();
    this.#fleetDropped = code === CloseCode.goingAway;
    if (this.#droppedAt - conn.openedAt >= this.#opts.stableAfterMs) this.#failures = 0;
    // Subscriptions survive the drop: queued again, resumed on the next socket.
    for (const call of [...this.#calls.values()]) {
      if (call.conn !== conn) continue;
      this.#calls.delete(call.id);
      this.#enqueue(call);
    }
    this.#onFailure(outcome);
  }

  /** Fails the queries and mutations sent on `conn` (they may or may not have run). */
  #failInFlight(conn: Connection, error: GatewayError): void {
    if (conn.inFlight === 0) return;
    for (const call of [...this.#calls.values()]) {
      if (call.conn !== conn || call.type === 'subscription') continue;
      this.#finish(call);
      call.handlers.error(error, undefined);
    }
  }

  #onFailure(outcome: Disconnect): void {
    if (outcome.final) {
      this.#finalize(outcome, outcome.error);
      return;
    }
    if (!this.#opts.retry) {
      this.#finalize({ state: 'closed', error: outcome.error }, outcome.error);
      return;
    }
    this.#failures++;
    this.#lastError = outcome.error;
    const patienceOver =
      !this.#everOpened ||
      Date.now() - this.#droppedAt >= this.#opts.reconnectGraceMs ||
      outcome.error.code === 'RATE_LIMITED';
    if (patienceOver) {
      this.#failFast = true;
      this.#rejectQueued(outcome.error);
    }
    const backoff = this.#fleetDropped
      ? { ...this.#opts.backoff, baseMs: Math.max(this.#opts.backoff.baseMs, RESTART_SPREAD_MS) }
      : this.#opts.backoff;
    const delay = Math.max(
      Math.min(outcome.retryAfterMs ?? 0, MAX_RETRY_AFTER_MS),
      nextReconnectDelay(this.#failures - 1, this.#opts.random, backoff),
    );
    this.#state.set({
      state: 'reconnecting',
      attempt: this.#failures,
      error: outcome.error,
      retryInMs: delay,
    });
    // A replacement the gateway asked for may still be scheduled; one timer only.
    clearTimeout(this.#retryTimer);
    this.#retryTimer = setTimeout(this.#connect, delay);
  }

  /** Queries and mutations still waiting to be sent fail; subscriptions keep waiting. */
  #rejectQueued(error: GatewayError): void {
    const kept: Call[] = [];
    for (const call of this.#outbox) {
      if (call.phase !== QUEUED) continue;
      if (call.type === 'subscription') {
        kept.push(call);
        continue;
      }
      call.phase = DONE;
      call.handlers.error(error, undefined);
    }
    this.#outbox = kept;
  }

  /** A final state: every call fails with `callError`, no reconnect follows. */
  #finalize(final: Final, callError: GatewayError): void {
    if (this.#final) return;
    this.#final = final;
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    this.#active = null;
    this.#connecting = null;
    for (const conn of this.#conns) {
      clearInterval(conn.keepAlive);
      if (conn.ws.readyState === OPEN) conn.ws.close(1000);
      else if (conn.ws.readyState === CONNECTING) conn.ws.terminate();
    }
    const pending = [...this.#outbox, ...this.#calls.values()];
    this.#outbox = [];
    this.#calls.clear();
    for (const call of pending) {
      if (call.phase === DONE) continue;
      call.phase = DONE;
      call.handlers.error(callError, undefined);
    }
    this.#state.set(
      final.state === 'closed'
        ? final.error
          ? { state: 'closed', error: final.error }
          : { state: 'closed' }
        : { state: final.state, error: final.error ?? callError },
    );
  }

  #finish(call: Call): void {
    call.phase = DONE;
    if (call.id !== 0 && this.#calls.get(call.id) === call) this.#calls.delete(call.id);
    const conn = call.conn;
    if (conn && call.type !== 'subscription') {
      conn.inFlight--;
      if (conn.retired && conn.inFlight === 0 && conn.ws.readyState === OPEN)
        conn.ws.close(1000, 'replaced');
    }
    if (this.#onDrained && this.#calls.size === 0) this.#onDrained();
  }

  #startKeepAlive(conn: Connection): void {
    // The first PING measures latency right away; the rest keep NATs and
    // proxies from idling the socket out and find a dead peer.
    sendPing(conn);
    if (this.#opts.keepAliveMs <= 0) return;
    conn.keepAlive = setInterval(() => {
      if (conn.pingOutstanding && !conn.heardSincePing) {
        // Nothing at all for a whole interval after a PING: the peer is gone.
        conn.ws.terminate();
        return;
      }
      sendPing(conn);
    }, this.#opts.keepAliveMs);
    conn.keepAlive.unref();
  }

  #onPong(conn: Connection): void {
    if (!conn.pingOutstanding) return;
    conn.pingOutstanding = false;
    this.#latencyMs = performance.now() - conn.pingSentAt;
  }
}

type WireMessage = {
  id?: number | string | null;
  method?: string;
  error?: unknown;
  result?: { type?: string; data?: unknown; id?: string | number } | null;
} | null;

function sendPing(conn: Connection): void {
  if (conn.ws.readyState !== OPEN) return;
  conn.pingSentAt = performance.now();
  conn.pingOutstanding = true;
  conn.heardSincePing = false;
  conn.ws.send('PING');
}

function sendStop(conn: Connection, id: number): void {
  if (conn.ws.readyState === OPEN)
    conn.ws.send(JSON.stringify({ id, method: 'subscription.stop' }));
}

function closedError(): GatewayError {
  return new GatewayError('CANCELLED', 'the client was closed');
}

function closeSocket(ws: GatewaySocket, timeoutMs: number): Promise<void> {
  if (ws.readyState === 3) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      ws.terminate();
      resolve();
    }, timeoutMs);
    ws.on('close', () => {
      clearTimeout(timer);
      resolve();
    });
    if (ws.readyState === OPEN) ws.close(1000);
    else if (ws.readyState === CONNECTING) ws.terminate();
  });
}

function foreignPeerError(url: string, uid: number): GatewayError {
  return new GatewayError(
    'UNAVAILABLE',
    `cannot connect to ${url}: the program listening there runs as another user (uid ${uid}), not as you or root, so the credential is not sent to it — is another program holding the gateway's port? (start the gateway, or choose another port)`,
    { details: { reason: 'foreign-listener', uid } },
  );
}
