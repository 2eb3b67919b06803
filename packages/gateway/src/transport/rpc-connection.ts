import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { CloseCode, fastTransformer, GatewayError } from '@loopgate/protocol';
import { type AnyRouter, getErrorShape, getTRPCErrorFromUnknown, TRPCError } from '@trpc/server';
import { isObservable, observableToAsyncIterable } from '@trpc/server/observable';
import { parseTRPCMessage, type TRPCClientOutgoingMessage } from '@trpc/server/rpc';
import { isTrackedEnvelope } from '@trpc/server/unstable-core-do-not-import';
import type { WebSocket } from 'ws';
import { accessFor, refusal } from '../authorization/index.js';
import type { GatewayContext } from '../router/context.js';
import { toTrpcError } from '../router/trpc.js';
import { callsSettled } from './calls-settled.js';
import {
  dataFrame,
  FanOutJson,
  knownJsonOf,
  plainJsonText,
  StreamBatch,
  trackedDataFrame,
} from './data-frames.js';
import { callProcedure } from './procedure-call.js';
import { mayHavePrototypeKey, prototypeKeyPath } from './prototype-keys.js';
import { withoutStack } from './stackless.js';
import {
  setMaxPayload,
  textFrames,
  type UnderlyingSocket,
  underlyingSocket,
} from './ws-internals.js';

const OPEN = 1;
/**
 * Requests of one connection dispatched per turn of the event loop, whether
 * they came as one batch or as many frames. Answers of a slice leave before
 * the next slice starts, so the client works on them while the gateway
 * computes the rest (a whole batch answered at once makes client and gateway
 * take turns, halving a pipelined client's throughput), and one connection
 * never holds the loop from everyone else: libuv hands over up to 2 MiB of a
 * socket in one turn, which as 16-request batches or single frames was up to
 * 10^5 requests (seconds, when each is a malformed one answered with an error).
 */
const BATCH_SLICE = 16;
/** A `PING` text frame waiting in the backlog: answered `PONG` in its turn. */
const PING = Symbol('PING');
/** Far longer than any procedure path; a longer one is refused without a lookup or an echo. */
const MAX_PROCEDURE_PATH_LENGTH = 256;
/**
 * Frames a socket may send while its credential is still being checked (only
 * a Tailscale claim waits, on `tailscale whois`, for up to 3 s). Each is held,
 * parsed, until the answer: a client sends its first few requests right
 * behind its connectionParams, a peer nobody has vouched for yet sends no
 * more than this, nor more bytes in all than one pre-auth frame may hold.
 */
const MAX_FRAMES_WHILE_AUTHENTICATING = 32;
/** How long a peer gets to answer our close frame before its socket is destroyed. */
const CLOSE_HANDSHAKE_GRACE_MS = 1_000;
/** What a peer that broke the protocol may still send before the gateway stops reading it. */
const MAX_BYTES_AFTER_VIOLATION = 256 * 1024;

/**
 * Reads a request's envelope (id, method, path) and leaves its input as the
 * raw payload, so who may call the procedure is known before any input is
 * decoded.
 */
const ENVELOPE_ONLY = {
  input: { serialize: (value: unknown) => value, deserialize: (payload: unknown) => payload },
  output: { serialize: (value: unknown) => value, deserialize: (payload: unknown) => payload },
};

export type RpcConnectionLimits = {
  preAuthMaxPayloadBytes: number;
  maxPayloadBytes: number;
  maxBufferedBytes: number;
  maxBatchSize: number;
  maxSubscriptionsPerConnection: number;
  maxRequestsInFlightPerConnection: number;
  authTimeoutMs: number;
};

export type RpcConnectionOptions = {
  router: AnyRouter;
  socket: WebSocket;
  request: IncomingMessage;
  limits: RpcConnectionLimits;
  /**
   * Turns the connection params (null when the client sent none) into a
   * context, or throws a `GatewayError` (UNAUTHORIZED, RATE_LIMITED, ...).
   */
  authenticate(params: Record<string, string> | null): Promise<GatewayContext> | GatewayContext;
  onError?(error: TRPCError, path: string | undefined): void;
  onClosed?(ctx: GatewayContext | undefined, code: number): void;
};

type Id = number | string;

/** One frame's requests (one, or a batch's), dispatched from `next` on. */
type WaitingFrame = { requests: unknown[]; screen: boolean; next: number };

/**
 * Bytes one coalesced write may gather before it is flushed early: large
 * enough for a tick's worth of small frames, small enough that the
 * slow-consumer check never sees a healthy socket's pending batch as a backlog.
 */
const COALESCE_MAX_BYTES = 64 * 1024;

/** Shared by every connection: one event, stringified once however many subscribers it goes to. */
const fanOutJson = new FanOutJson();

/**
 * One WebSocket speaking tRPC's WebSocket protocol, written for this gateway
 * instead of using `applyWSSHandler` because the stock adapter has no
 * per-socket backpressure, no subscription cap, no size limit before auth,
 * keeps credentials-failed sockets half-open, and allocates an
 * AbortController and several closures per request. The wire format is
 * unchanged, so stock tRPC clients work against it.
 */
export class RpcConnection {
  readonly #router: AnyRouter;
  readonly #socket: WebSocket;
  readonly #limits: RpcConnectionLimits;
  readonly #opts: RpcConnectionOptions;
  readonly #transformer: AnyRouter['_def']['_config']['transformer'];
  /** The router speaks superjson's format through `fastTransformer`: plain JSON results can be written as text directly. */
  readonly #jsonWire: boolean;
  readonly #closed = new AbortController();
  readonly #subscriptions = new Map<Id, AbortController>();
  /** Set once authenticated; requests that arrive while auth is pending wait on `#pending`. */
  #ctx: GatewayContext | undefined;
  #pending: Promise<GatewayContext | undefined> | undefined;
  /** Frames, and their bytes, that arrived while `#pending` was unresolved. */
  #heldFrames = 0;
  #heldBytes = 0;
  #authTimer: NodeJS.Timeout | undefined;
  /** Operators decode input with the router's transformer (superjson); nodes and pairing peers as plain JSON. */
  #plainInput = true;
  #maxSubscriptions: number;
  #slow = false;
  /** The TCP/TLS stream under the WebSocket: a tick's frames are written to it as one buffer. */
  readonly #raw: UnderlyingSocket | undefined;
  /** Frames produced in this tick, not yet written (see `#sendText`). */
  #pendingTexts: string[] = [];
  /** Written once per turn of the loop instead of once per tick (see `#sendText`): a node's socket. */
  #flushPerTurn = false;
  #pendingChars = 0;
  /** Frames whose requests wait for a later turn of the loop (see `BATCH_SLICE`). */
  #backlog: WaitingFrame[] = [];
  /** Requests this turn may still dispatch as they arrive, before frames wait in `#backlog`. */
  #turnBudget = BATCH_SLICE;
  /** The gateway closed this socket, or is stopping (see `close`, `closeWhenSettled`): nothing the peer sends after that is run. */
  #closing = false;
  /** Queries and mutations running now (not subscriptions): a graceful stop answers them first. */
  #running = 0;
  /** Set while `closeWhenSettled` waits for `#running` to reach 0. */
  #onSettled: (() => void) | undefined;

  constructor(opts: RpcConnectionOptions) {
    this.#opts = opts;
    this.#router = opts.router;
    this.#socket = opts.socket;
    this.#limits = opts.limits;
    this.#transformer = opts.router._def._config.transformer;
    this.#jsonWire = this.#transformer.output.serialize === fastTransformer.output.serialize;
    this.#raw = underlyingSocket(opts.socket);
    this.#maxSubscriptions = opts.limits.maxSubscriptionsPerConnection;

    setMaxPayload(opts.socket, opts.limits.preAuthMaxPayloadBytes);
    this.#startDeadline('authentication timeout: send connectionParams first');

    const expectsParams =
      new URL(opts.request.url ?? '/', 'http://x').searchParams.get('connectionParams') === '1';
    if (!expectsParams) this.#pending = this.#authenticate(null);

    opts.socket.on('message', (data, isBinary) => this.#onMessage(data as Buffer, isBinary));
    opts.socket.on('error', () => this.#onProtocolViolation());
    opts.socket.once('close', (code) => this.#onClose(code));
  }

  /** Aborts when the socket closes; procedures hang per-connection cleanup on it. */
  get closedSignal(): AbortSignal {
    return this.#closed.signal;
  }

  get context(): GatewayContext | undefined {
    return this.#ctx;
  }

  /** No credential (nor anything at all) has arrived yet: the socket only holds a place. */
  get awaitingCredentials(): boolean {
    return this.#ctx === undefined && this.#pending === undefined;
  }

  get subscriptionCount(): number {
    return this.#subscriptions.size;
  }

  close(code: number, reason: string): void {
    const state = this.#socket.readyState;
    if (state !== OPEN && state !== 0) return;
    this.#closing = true;
    // frames already produced go out before the close frame, as they were sent before it
    this.#flushWrites();
    this.#socket.close(code, truncateReason(reason));
    // A peer that never answers the close handshake would otherwise keep the
    // TCP socket (and its place under the connection caps) for ws's 30 s close timeout.
    setTimeout(() => this.#socket.terminate(), CLOSE_HANDSHAKE_GRACE_MS).unref();
  }

  /**
   * The gateway is stopping: from now on nothing the peer sends is run (a
   * write sent after the stop began must not happen, answered or not), while
   * the queries and mutations already running are answered, for up to
   * `graceMs`; then the socket is closed with `code` and `reason`.
   */
  async closeWhenSettled(code: number, reason: string, graceMs: number): Promise<void> {
    this.#closing = true;
    await callsSettled(
      () => this.#running,
      graceMs,
      (settled) => {
        this.#onSettled = settled;
      },
    );
    this.close(code, reason);
  }

  /** Drops the TCP connection now (a close frame written just before still goes out). */
  terminate(): void {
    this.#socket.terminate();
  }

  /**
   * ws reports protocol violations (an oversized frame, a bad opcode, too
   * many fragments) here after queuing its close frame, then reads (and
   * discards) whatever the peer still sends until the peer answers the
   * close. A peer that answers at once closes as usual; one that queued
   * megabytes behind its oversized frame is read no further than
   * `MAX_BYTES_AFTER_VIOLATION`, then dropped after the close grace.
   */
  #onProtocolViolation(): void {
    const raw = this.#raw as (UnderlyingSocket & Pick<Duplex, 'on' | 'off' | 'pause'>) | undefined;
    if (!raw || typeof raw.on !== 'function') return;
    let discarded = 0;
    const onData = (chunk: Buffer) => {
      discarded += chunk.length;
      if (discarded <= MAX_BYTES_AFTER_VIOLATION) return;
      raw.off('data', onData);
      raw.pause();
      setTimeout(() => this.#socket.terminate(), CLOSE_HANDSHAKE_GRACE_MS).unref();
    };
    raw.on('data', onData);
  }

  /**
   * A synchronous `authenticate` takes effect before `ws` parses the next
   * frame header in the same TCP read, so a client that sends its first
   * request right behind connectionParams is held to the post-auth size
   * limit, not the pre-auth one.
   */
  #authenticate(params: Record<string, string> | null): Promise<GatewayContext | undefined> {
    let result: Promise<GatewayContext> | GatewayContext;
    try {
      result = this.#opts.authenticate(params);
    } catch (cause) {
      this.#onAuthFailed(cause);
      return Promise.resolve(undefined);
    }
    if (!(result instanceof Promise)) return Promise.resolve(this.#onAuthenticated(result));
    return result.then(
      (ctx) => this.#onAuthenticated(ctx),
      (cause: unknown) => {
        this.#onAuthFailed(cause);
        return undefined;
      },
    );
  }

  #onAuthenticated(ctx: GatewayContext): GatewayContext {
    this.#ctx = ctx;
    const role = ctx.conn.role;
    this.#plainInput = role !== 'operator';
    this.#flushPerTurn = role === 'node';
    if (role === 'pairing') {
      // Nobody vouched for this peer: it keeps the pre-auth frame limit, one
      // subscription and no batches, and the deadline keeps running until its
      // pairing request is waiting (bounded by the pairing caps and pendingTtlMs).
      this.#maxSubscriptions = 1;
      this.#startDeadline('pairing timeout: request pairing (node.pair.request) first');
      return ctx;
    }
    clearTimeout(this.#authTimer);
    setMaxPayload(this.#socket, this.#limits.maxPayloadBytes);
    return ctx;
  }

  #startDeadline(reason: string): void {
    clearTimeout(this.#authTimer);
    this.#authTimer = setTimeout(
      () => this.close(CloseCode.authDeadline, reason),
      this.#limits.authTimeoutMs,
    );
    this.#authTimer.unref();
  }

  /** A pairing peer stepped outside the one thing it may do: it is told why, then closed. */
  #closeUnpaired(id: Id | null, jsonrpc: '2.0' | undefined, what: string): void {
    const error = new GatewayError(
      'NOT_PAIRED',
      `an unpaired node may only request pairing (node.pair.request), once at a time; it sent ${what}`,
    );
    this.#respondError(id, error, undefined, jsonrpc);
    this.close(CloseCode.forbidden, `NOT_PAIRED: ${error.message}`);
  }

  #onAuthFailed(cause: unknown): void {
    clearTimeout(this.#authTimer);
    const error =
      cause instanceof GatewayError
        ? cause
        : new GatewayError('UNAUTHORIZED', 'authentication failed');
    // Tell the client why in a frame it can parse, then close with a code that
    // says whether retrying can help (a full pairing quota frees up; a wrong
    // credential does not). Stock clients see the frame; ours also the code.
    this.#respondTrpcError(null, undefined, toTrpcError(error), undefined, 'unknown');
    const code =
      error.code === 'RATE_LIMITED'
        ? CloseCode.rateLimited
        : error.code === 'LIMIT_EXCEEDED'
          ? CloseCode.tryAgainLater
          : CloseCode.unauthorized;
    const retry =
      typeof error.details?.retryAfterMs === 'number'
        ? ` retryAfterMs=${error.details.retryAfterMs}`
        : '';
    this.close(code, `${error.code}: ${error.message}${retry}`);
  }

  /**
   * Counts a frame that must wait for the credential check; past the bound
   * (see `MAX_FRAMES_WHILE_AUTHENTICATING`) the socket is closed with the
   * pre-auth frame limit's code, and the frame dropped unparsed.
   */
  #holdUntilAuthenticated(bytes: number): boolean {
    this.#heldFrames++;
    this.#heldBytes += bytes;
    const maxBytes = this.#limits.preAuthMaxPayloadBytes;
    if (this.#heldFrames <= MAX_FRAMES_WHILE_AUTHENTICATING && this.#heldBytes <= maxBytes)
      return true;
    this.close(
      CloseCode.messageTooBig,
      `LIMIT_EXCEEDED: over ${MAX_FRAMES_WHILE_AUTHENTICATING} frames or ${maxBytes} bytes sent while the credential was being checked`,
    );
    return false;
  }

  #onMessage(data: Buffer, isBinary: boolean): void {
    // ws hands over what the peer sends until it answers our close frame (up to
    // CLOSE_HANDSHAKE_GRACE_MS). The gateway closed it for a reason — a revoked
    // or expired credential, a slow consumer, a refused peer — and could not
    // answer anyway: a revoked admin's mutations must not run in that window.
    if (this.#closing) return;
    const text = isBinary ? undefined : data.toString('utf8');
    if (text === undefined) {
      this.#respondError(
        null,
        new GatewayError('BAD_REQUEST', 'binary frames are not supported; send JSON text'),
      );
      return;
    }
    if (text.length === 4) {
      if (text === 'PING') {
        // Within this turn's share, at once, ahead of frames this tick is still producing (its
        // round trip is the client's latency probe); past it, in its turn like a request.
        if (this.#backlog.length === 0 && this.#turnBudget > 0) {
          this.#spend(1);
          this.#pong();
        } else this.#wait({ requests: [PING], screen: false, next: 0 });
        return;
      }
      if (text === 'PONG') return;
    }

    if (!this.#ctx && !this.#pending) {
      this.#pending = this.#authenticate(parseConnectionParams(text));
      return;
    }
    if (!this.#ctx && !this.#holdUntilAuthenticated(data.length)) return;

    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      this.#refuseMalformed(null, 'malformed JSON frame');
      return;
    }

    const screen = mayHavePrototypeKey(text);
    if (Array.isArray(parsed)) {
      if (this.#ctx?.conn.role === 'pairing') {
        this.#closeUnpaired(null, undefined, 'a batch');
        return;
      }
      if (parsed.length > this.#limits.maxBatchSize) {
        this.#rejectBatch(parsed);
        return;
      }
    }
    const batch: unknown[] | undefined = Array.isArray(parsed) ? parsed : undefined;
    const requests = batch ? batch.length : 1;
    if (this.#backlog.length === 0 && requests <= this.#turnBudget) {
      this.#spend(requests);
      if (!batch) {
        if (!screen || !this.#refusedPrototypeKey(parsed)) this.#dispatch(parsed, 0);
      } else this.#dispatchRequests({ requests: batch, screen, next: 0 }, batch.length);
      return;
    }
    // Frames behind a batch still being sliced, or past this turn's share, wait their turn,
    // so requests run in the order sent.
    this.#wait({ requests: batch ?? [parsed], screen, next: 0 });
  }

  #wait(frame: WaitingFrame): void {
    this.#backlog.push(frame);
    if (this.#backlog.length === 1) {
      // No more frames are read until the backlog is dispatched: what waits is what one read held.
      this.#socket.pause();
      this.#drainBacklog();
    }
  }

  #pong(): void {
    if (this.#slow) return;
    this.#socket.send('PONG');
    // A peer that sends PINGs and never reads the PONGs is a slow consumer like any other.
    if (this.#socket.bufferedAmount > this.#limits.maxBufferedBytes) this.#onSlowConsumer();
  }

  /** Takes `requests` from this turn's share; the share is whole again next turn. */
  #spend(requests: number): void {
    if (requests === 0) return;
    if (this.#turnBudget === BATCH_SLICE) setImmediate(this.#newTurn);
    this.#turnBudget -= requests;
  }

  readonly #newTurn = (): void => {
    this.#turnBudget = BATCH_SLICE;
  };

  /** Dispatches what is left of this turn's share of waiting requests now, the rest in later turns. */
  readonly #drainBacklog = (): void => {
    if (this.#closing || this.#socket.readyState !== OPEN) {
      this.#backlog = [];
      // A socket the gateway is closing must still read the peer's close reply, or the
      // handshake never completes and the socket is dropped at the grace (logged 1006).
      this.#socket.resume();
      return;
    }
    // What is left of this turn's share, not a fresh one: a backlog that empties resumes
    // reading, and the next frame of the same read must not start a new share.
    let budget = this.#turnBudget;
    while (budget > 0 && this.#backlog.length > 0) {
      const frame = this.#backlog[0]!;
      budget -= this.#dispatchRequests(frame, budget);
      if (frame.next === frame.requests.length) this.#backlog.shift();
    }
    this.#spend(this.#turnBudget - budget);
    if (this.#backlog.length > 0) setImmediate(this.#drainBacklog);
    else this.#socket.resume();
  };

  /** Dispatches at most `max` of a frame's requests from where it stopped; returns how many. */
  #dispatchRequests(frame: WaitingFrame, max: number): number {
    const from = frame.next;
    const end = Math.min(frame.requests.length, from + max);
    for (let i = from; i < end; i++) {
      const raw = frame.requests[i];
      if (raw === PING) this.#pong();
      else if (!frame.screen || !this.#refusedPrototypeKey(raw)) this.#dispatch(raw, i);
    }
    frame.next = end;
    return end - from;
  }

  /**
   * A frame that is no request: PARSE_ERROR, and the socket stays open. An
   * unpaired peer is closed instead (NOT_PAIRED): otherwise it could send
   * such frames (7 bytes each, an error built and sent for every one) for as
   * long as its pairing request waits.
   */
  #refuseMalformed(id: Id | null, what: string): void {
    if (this.#ctx?.conn.role === 'pairing') {
      this.#closeUnpaired(id, undefined, `a frame that is no request (${what})`);
      return;
    }
    this.#respondError(
      id,
      withoutStack(() => new GatewayError('BAD_REQUEST', what)),
      'PARSE_ERROR',
    );
  }

  /** Answers BAD_REQUEST for a message holding a `__proto__` key (see prototype-keys.ts). */
  #refusedPrototypeKey(raw: unknown): boolean {
    const at = prototypeKeyPath(raw);
    if (at === undefined) return false;
    this.#respondError(
      idOf(raw),
      new GatewayError('BAD_REQUEST', `a "__proto__" key is not accepted (at ${at.slice(0, 128)})`),
    );
    return true;
  }

  #dispatch(raw: unknown, batchIndex: number): void {
    let msg: TRPCClientOutgoingMessage;
    try {
      msg = parseTRPCMessage(raw, ENVELOPE_ONLY);
    } catch (cause) {
      const message = cause instanceof Error ? cause.message : 'invalid message';
      this.#refuseMalformed(idOf(raw), `invalid request: ${message}`);
      return;
    }
    if (msg.id === null) {
      this.#refuseMalformed(null, 'request `id` is required');
      return;
    }
    const ctx = this.#ctx;
    if (msg.method === 'subscription.stop') {
      const id = msg.id;
      // While the credential is checked, the subscription it stops waits on `#pending`
      // too: the stop must wait behind it, or it finds nothing and the stream runs on.
      if (ctx) this.#subscriptions.get(id)?.abort();
      else void this.#pending?.then(() => this.#subscriptions.get(id)?.abort());
      return;
    }
    if (ctx) {
      void this.#run(msg, ctx, batchIndex);
    } else {
      void this.#pending?.then((c) => c && this.#run(msg, c, batchIndex));
    }
  }

  async #run(
    msg: Exclude<TRPCClientOutgoingMessage, { method: 'subscription.stop' }>,
    ctx: GatewayContext,
    batchIndex: number,
  ): Promise<void> {
    // Held while the credential was checked, or in the backlog, when the gateway began closing.
    if (this.#closing) return;
    const { jsonrpc } = msg;
    const id = msg.id as Id; // null ids were answered in #dispatch
    const type = msg.method;
    const { path, lastEventId } = msg.params;
    if (path.length > MAX_PROCEDURE_PATH_LENGTH) {
      // tRPC's NOT_FOUND would echo the whole path back, twice.
      this.#respondError(
        id,
        new GatewayError(
          'NOT_FOUND',
          `no procedure named "${path.slice(0, 64)}…" (${path.length} characters)`,
        ),
        undefined,
        jsonrpc,
      );
      return;
    }
    // Who may call the procedure is settled before its input is decoded: a
    // peer's payload costs nothing for a procedure it may not call. Paths the
    // authorization table does not list are left to tRPC (NOT_FOUND).
    const access = accessFor(path);
    if (ctx.conn.role === 'pairing') {
      if (type !== 'subscription' || access !== 'pairing') {
        this.#closeUnpaired(id, jsonrpc, `a ${type} of "${path.slice(0, 64)}"`);
        return;
      }
      if (this.#subscriptions.size >= this.#maxSubscriptions) {
        this.#closeUnpaired(id, jsonrpc, 'a second subscription');
        return;
      }
    } else if (access !== undefined) {
      const denied = refusal(ctx.conn.principal, path);
      if (denied) {
        this.#respondError(id, denied, undefined, jsonrpc);
        return;
      }
    }
    if (type !== 'subscription' && this.#running >= this.#limits.maxRequestsInFlightPerConnection) {
      // Refused before the input is decoded: a call past the cap costs a counter check.
      this.#respondError(id, this.#tooManyRunning(), undefined, jsonrpc);
      return;
    }
    let input: unknown;
    try {
      input = this.#plainInput
        ? plainJsonInput(msg.params.input)
        : this.#transformer.input.deserialize(msg.params.input);
    } catch (cause) {
      // superjson throws on a `meta` that does not fit its `json` (an unknown type name,
      // a path through a number): one frame from any operator took the gateway down.
      this.#respondError(id, undecodableInput(cause), undefined, jsonrpc);
      return;
    }
    if (lastEventId !== undefined) {
      input =
        input !== null && typeof input === 'object' ? { ...input, lastEventId } : { lastEventId };
    }

    if (type === 'subscription') {
      if (this.#subscriptions.has(id)) {
        this.#respondError(
          id,
          new GatewayError('BAD_REQUEST', `duplicate subscription id ${String(id)}`),
          undefined,
          jsonrpc,
        );
        return;
      }
      if (this.#subscriptions.size >= this.#maxSubscriptions) {
        this.#respondError(
          id,
          new GatewayError(
            'LIMIT_EXCEEDED',
            `at most ${this.#maxSubscriptions} subscriptions per connection`,
          ),
          undefined,
          jsonrpc,
        );
        return;
      }
      await this.#runSubscription(id, jsonrpc, path, input, ctx, batchIndex);
      return;
    }

    this.#running++;
    try {
      let data = callProcedure(this.#router, {
        path,
        type,
        input,
        ctx,
        signal: this.#closed.signal,
        batchIndex,
      });
      // A procedure that answered at once is answered in this turn, not the next.
      if (data instanceof Promise) data = await data;
      if (this.#socket.readyState !== OPEN) return;
      const text = this.#jsonWire ? plainJsonText(data) : undefined;
      if (text !== undefined) this.#sendText(dataFrame(id, jsonrpc, text));
      else
        this.#send({
          id,
          jsonrpc,
          result: { type: 'data', data: this.#transformer.output.serialize(data) },
        });
    } catch (cause) {
      this.#respondTrpcError(id, jsonrpc, getTRPCErrorFromUnknown(cause), path, type, input);
    } finally {
      if (--this.#running === 0) this.#onSettled?.();
    }
  }

  async #runSubscription(
    id: Id,
    jsonrpc: '2.0' | undefined,
    path: string,
    input: unknown,
    ctx: GatewayContext,
    batchIndex: number,
  ): Promise<void> {
    const controller = new AbortController();
    this.#subscriptions.set(id, controller);
    const pairing = ctx.conn.role === 'pairing';
    // While its request waits for an operator the peer is held by the pairing caps instead.
    if (pairing) clearTimeout(this.#authTimer);
    let iterator: AsyncIterator<unknown> | undefined;
    const onAbort = () => {
      // A generator parked at `yield` only finishes when asked to.
      void iterator?.return?.().catch(() => {});
    };
    controller.signal.addEventListener('abort', onAbort, { once: true });
    try {
      const result = await callProcedure(this.#router, {
        path,
        type: 'subscription',
        input,
        ctx,
        signal: controller.signal,
        batchIndex,
      });
      const iterable: AsyncIterable<unknown> | undefined = isObservable(result)
        ? observableToAsyncIterable(result, controller.signal)
        : isAsyncIterable(result)
          ? result
          : undefined;
      if (!iterable) {
        throw new TRPCError({
          code: 'INTERNAL_SERVER_ERROR',
          message: `subscription ${path} returned no stream`,
        });
      }
      if (controller.signal.aborted || this.#socket.readyState !== OPEN) return;
      this.#send({ id, jsonrpc, result: { type: 'started' } });
      iterator = iterable[Symbol.asyncIterator]();
      while (!controller.signal.aborted) {
        const next = await iterator.next();
        if (next.done || controller.signal.aborted) break;
        const value = next.value;
        if (value instanceof StreamBatch) {
          for (const item of value.items) this.#sendStreamItem(id, jsonrpc, item);
        } else this.#sendStreamItem(id, jsonrpc, value);
      }
    } catch (cause) {
      if (!controller.signal.aborted) {
        this.#respondTrpcError(
          id,
          jsonrpc,
          getTRPCErrorFromUnknown(cause),
          path,
          'subscription',
          input,
        );
      }
    } finally {
      controller.signal.removeEventListener('abort', onAbort);
      this.#subscriptions.delete(id);
      if (pairing && this.#socket.readyState === OPEN)
        this.#startDeadline('pairing timeout: the request ended; ask again or disconnect');
      if (!controller.signal.aborted) controller.abort();
      // The subscription is already over for the client; a generator failing to clean up has no one to tell.
      void iterator?.return?.().catch(() => {});
      if (this.#socket.readyState === OPEN)
        this.#send({ id, jsonrpc, result: { type: 'stopped' } });
    }
  }

  /** One item of a subscription's stream, as a `data` frame (with its tracked id, if it has one). */
  #sendStreamItem(id: Id, jsonrpc: '2.0' | undefined, value: unknown): void {
    const serialize = this.#transformer.output.serialize;
    if (!isTrackedEnvelope(value)) {
      this.#send({ id, jsonrpc, result: { type: 'data', data: serialize(value) } });
      return;
    }
    const trackedId = value[0];
    const text = this.#jsonWire
      ? (knownJsonOf(value) ?? fanOutJson.textOf(value[1], trackedId))
      : undefined;
    if (text !== undefined) this.#sendText(trackedDataFrame(id, jsonrpc, trackedId, text));
    else
      this.#send({
        id,
        jsonrpc,
        result: { type: 'data', id: trackedId, data: serialize({ id: trackedId, data: value[1] }) },
      });
  }

  #errorShape(
    error: TRPCError,
    path: string | undefined,
    type: 'query' | 'mutation' | 'subscription' | 'unknown',
    input?: unknown,
  ) {
    return getErrorShape({
      config: this.#router._def._config,
      error,
      type,
      path,
      input,
      ctx: this.#ctx,
    });
  }

  #respondTrpcError(
    id: Id | null,
    jsonrpc: '2.0' | undefined,
    error: TRPCError,
    path: string | undefined,
    type: 'query' | 'mutation' | 'subscription' | 'unknown',
    input?: unknown,
  ): void {
    this.#opts.onError?.(error, path);
    if (this.#socket.readyState !== OPEN) return;
    const shape = this.#errorShape(error, path, type, input);
    this.#send({ id, jsonrpc, error: this.#transformer.output.serialize(shape) });
  }

  #tooManyRunning(): GatewayError {
    const max = this.#limits.maxRequestsInFlightPerConnection;
    return new GatewayError(
      'LIMIT_EXCEEDED',
      `this connection already has ${this.#running} calls running, the limit of gateway.limits.maxRequestsInFlightPerConnection (${max}); wait for some to finish`,
      { details: { running: this.#running, limit: max } },
    );
  }

  #respondError(
    id: Id | null,
    error: GatewayError,
    trpcCode?: 'PARSE_ERROR',
    jsonrpc?: '2.0',
  ): void {
    const trpcError = withoutStack(() =>
      trpcCode
        ? new TRPCError({ code: trpcCode, message: error.message, cause: error })
        : toTrpcError(error),
    );
    this.#respondTrpcError(id, jsonrpc, trpcError, undefined, 'unknown');
  }

  /** Every request in an over-long batch gets the error, so no caller waits forever. */
  #rejectBatch(batch: unknown[]): void {
    const error = new GatewayError(
      'LIMIT_EXCEEDED',
      `batch of ${batch.length} exceeds the limit of ${this.#limits.maxBatchSize}`,
    );
    let answered = false;
    for (const raw of batch) {
      const id = idOf(raw);
      if (id !== null) {
        this.#respondError(id, error);
        answered = true;
      }
    }
    if (!answered) this.#respondError(null, error);
  }

  #send(message: unknown): void {
    this.#sendText(JSON.stringify(message));
  }

  /**
   * The one place bytes leave: a socket whose peer stops reading is closed as
   * soon as its queue crosses the cap, instead of letting the gateway buffer
   * without bound (the stock adapter's failure mode).
   */
  #sendText(text: string): void {
    const socket = this.#socket;
    if (socket.readyState !== OPEN || this.#slow) return;
    if (this.#raw) {
      // Frames produced in this tick (a batch's answers, a burst of events)
      // leave as one buffer in one write, once the tick's microtasks are done.
      // A node's frames wait for the end of the turn: the acks of the results
      // it sent go after the answers those results completed (an ack written
      // first wakes the node ahead of the caller, and on two cores the caller
      // then waits for a CPU), and with the turn's invocations in one write.
      if (this.#pendingTexts.push(text) === 1) {
        if (this.#flushPerTurn) setImmediate(this.#flushWrites);
        else process.nextTick(this.#flushWrites);
      }
      this.#pendingChars += text.length;
      if (this.#pendingChars >= COALESCE_MAX_BYTES) this.#flushWrites();
    } else {
      socket.send(text);
    }
    if (socket.bufferedAmount + this.#pendingChars > this.#limits.maxBufferedBytes) {
      // the frame that crosses the cap is the last one queued, as with `ws.send`
      this.#flushWrites();
      this.#onSlowConsumer();
    }
  }

  /** Writes the frames this tick produced (a closed socket drops them, as `ws` would). */
  readonly #flushWrites = (): void => {
    const texts = this.#pendingTexts;
    if (texts.length === 0) return;
    this.#pendingTexts = [];
    this.#pendingChars = 0;
    if (this.#socket.readyState !== OPEN) return;
    this.#raw!.write(textFrames(texts));
  };

  #onSlowConsumer(): void {
    this.#slow = true;
    this.close(
      CloseCode.slowConsumer,
      'slow consumer: outgoing buffer limit exceeded; reconnect and resume',
    );
    // The close frame queues behind the stuck bytes; free them regardless.
    setTimeout(() => this.#socket.terminate(), 250).unref();
  }

  #onClose(code: number): void {
    clearTimeout(this.#authTimer);
    for (const sub of this.#subscriptions.values()) sub.abort();
    this.#subscriptions.clear();
    this.#closed.abort();
    this.#opts.onClosed?.(this.#ctx, code);
  }
}

function parseConnectionParams(text: string): Record<string, string> | null {
  try {
    const msg = JSON.parse(text) as { method?: unknown; data?: unknown };
    if (msg?.method !== 'connectionParams' || msg.data === null || typeof msg.data !== 'object')
      return null;
    const out: Record<string, string> = {};
    for (const [key, value] of Object.entries(msg.data as Record<string, unknown>)) {
      if (typeof value === 'string') out[key] = value;
    }
    return out;
  } catch {
    // Not JSON: the caller closes the socket as unauthenticated.
    return null;
  }
}

/** The refusal of an input superjson could not decode, its reason cut short (it may echo the peer's bytes). */
function undecodableInput(cause: unknown): GatewayError {
  const reason = cause instanceof Error ? cause.message : String(cause);
  const shown = reason.length > 120 ? `${reason.slice(0, 120)}…` : reason;
  return new GatewayError(
    'BAD_REQUEST',
    `invalid input: its superjson meta does not describe its json (${shown})`,
  );
}

/**
 * A non-operator's input: the `json` part of the superjson payload and
 * nothing else. Its `meta` is never applied, so a node or an unpaired peer
 * cannot make the gateway build BigInts from megabytes of digits, Maps, Sets,
 * Dates or shared references (a tree whose nodes repeat exponentially).
 */
function plainJsonInput(payload: unknown): unknown {
  return payload !== null && typeof payload === 'object'
    ? (payload as { json?: unknown }).json
    : payload;
}

function idOf(raw: unknown): Id | null {
  if (raw === null || typeof raw !== 'object') return null;
  const id = (raw as { id?: unknown }).id;
  return typeof id === 'number' || typeof id === 'string' ? id : null;
}

function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return value !== null && typeof value === 'object' && Symbol.asyncIterator in value;
}

/** WebSocket close reasons are limited to 123 bytes. */
export function truncateReason(reason: string): string {
  const buf = Buffer.from(reason);
  return buf.length <= 123
    ? reason
    : `${buf
        .subarray(0, 120)
        .toString('utf8')
        .replace(/\uFFFD$/, '')}...`;
}
