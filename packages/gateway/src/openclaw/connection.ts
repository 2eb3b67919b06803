import { randomBytes, randomUUID } from 'node:crypto';
import {
  CloseCode,
  type ConnectionParams,
  GatewayError,
  type LimitsConfig,
  LOOPGATE_VERSION,
  type OpenClawEndpointConfig,
  type OperatorScope,
  withoutControlCharacters,
} from '@loopgate/protocol';
import type { WebSocket } from 'ws';
import type { AttemptSource, OperatorAccess } from '../auth/index.js';
import { refusal } from '../authorization/index.js';
import type { NodeConnection } from '../nodes/index.js';
import type { ConnectionInfo, GatewayContext } from '../router/context.js';
import type { GatewayServices } from '../services.js';
import {
  type AdmissionAccepted,
  callsSettled,
  mayHavePrototypeKey,
  prototypeKeyPath,
  setMaxPayload,
  truncateReason,
} from '../transport/index.js';
import { type Challenge, verifyDevice } from './device-auth.js';
import { OpenClawError, toOpenClawError } from './errors.js';
import { type ConnectParams, jsonDepthWithin, MAX_FRAME_DEPTH, RequestFrame } from './frames.js';
import {
  authRefusal,
  grantedScope,
  negotiateProtocol,
  parseConnect,
  scopesOf,
} from './handshake.js';
import { NODE_HOUSEKEEPING, openClawMethods } from './methods.js';
import { nodeDeclaration, pairingRequest } from './node-declaration.js';
import { invocationEvent } from './node-results.js';

/** Requests one socket may have running at once; more get a retryable UNAVAILABLE. */
const MAX_IN_FLIGHT = 64;
/** Housekeeping requests a node waiting for approval may send per minute before it is closed. */
const MAX_HOUSEKEEPING_PER_MINUTE = 32;
const CLOSE_GRACE_MS = 1_000;
const OPEN = 1;

export type OpenClawEndpointOptions = {
  settings: OpenClawEndpointConfig;
  limits: LimitsConfig;
  services: GatewayServices;
  /** The gateway's operator check (its secret or a named token), through the failed-attempt limiter. */
  checkOperator(params: ConnectionParams, source: AttemptSource): OperatorAccess;
  /** Runs one credential check through the failed-attempt limiter (a lockout refuses it unseen). */
  checkCredential<T>(source: AttemptSource, verify: () => T | undefined, failure: string): T;
  pairingQuota: { acquire(addressKey: string): void; release(addressKey: string): void };
  /** An authenticated socket joins the gateway's connection table, presence and events... */
  opened(info: ConnectionInfo): void;
  /** ...and leaves them when it closes. */
  closed(info: ConnectionInfo, code: number): void;
  tls(): boolean;
};

type Session = { info: ConnectionInfo; ctx: GatewayContext; deviceId: string | undefined };

/**
 * One socket on the OpenClaw endpoint, from its `connect.challenge` to its
 * close. Every frame is hostile until `connect` proves otherwise: the
 * pre-auth frame limit and the auth deadline hold until then, nesting is
 * bounded before anything is parsed, and who may call what is the same
 * authorization table the tRPC door uses.
 */
export class OpenClawConnection {
  readonly #socket: WebSocket;
  readonly #admission: AdmissionAccepted;
  readonly #opts: OpenClawEndpointOptions;
  readonly #challenge: Challenge;
  readonly #closed = new AbortController();
  #session: Session | undefined;
  #deadline: NodeJS.Timeout | undefined;
  #tick: NodeJS.Timeout | undefined;
  #seq = 0;
  #inFlight = 0;
  /** The gateway is stopping (see `closeWhenSettled`): nothing the peer sends from then on runs. */
  #stopping = false;
  /** Set while `closeWhenSettled` waits for `#inFlight` to reach 0. */
  #onSettled: (() => void) | undefined;
  #holdsPairingSlot = false;
  #housekeepingWindowStart = 0;
  #housekeepingInWindow = 0;

  constructor(socket: WebSocket, admission: AdmissionAccepted, options: OpenClawEndpointOptions) {
    this.#socket = socket;
    this.#admission = admission;
    this.#opts = options;
    setMaxPayload(socket, options.limits.preAuthMaxPayloadBytes);
    this.#challenge = { nonce: randomBytes(32).toString('base64url'), ts: Date.now() };
    this.#startDeadline('connect timeout: send the connect request first');
    socket.on('message', (data, isBinary) => this.#onMessage(data as Buffer, isBinary));
    // ws reports oversized or malformed frames here, then closes the socket itself.
    socket.on('error', () => {});
    socket.once('close', (code) => this.#onClose(code));
    this.#event('connect.challenge', { nonce: this.#challenge.nonce, ts: this.#challenge.ts });
  }

  /** No `connect` yet: at the global cap such a socket makes room for a new one. */
  get awaitingCredentials(): boolean {
    return this.#session === undefined;
  }

  /** Drops the TCP connection now (a close frame written just before still goes out). */
  terminate(): void {
    this.#socket.terminate();
  }

  close(code: number, reason: string): void {
    const state = this.#socket.readyState;
    if (state !== OPEN && state !== 0) return;
    this.#socket.close(code, truncateReason(reason));
    setTimeout(() => this.#socket.terminate(), CLOSE_GRACE_MS).unref();
  }

  /**
   * The gateway is stopping: nothing the peer sends from now on runs (a node's
   * result included), the requests already running are answered, for up to
   * `graceMs`, then the socket is closed with `code` and `reason`.
   */
  async closeWhenSettled(code: number, reason: string, graceMs: number): Promise<void> {
    this.#stopping = true;
    await callsSettled(
      () => this.#inFlight,
      graceMs,
      (settled) => {
        this.#onSettled = settled;
      },
    );
    this.close(code, reason);
  }

  #startDeadline(reason: string): void {
    clearTimeout(this.#deadline);
    this.#deadline = setTimeout(
      () => this.close(CloseCode.authDeadline, reason),
      this.#opts.limits.authTimeoutMs,
    );
    this.#deadline.unref();
  }

  #onMessage(data: Buffer, isBinary: boolean): void {
    if (this.#stopping || this.#closed.signal.aborted) return;
    // Refused and closing: ws still hands over what the peer sends until the close
    // completes (up to CLOSE_GRACE_MS), and a peer that proved nothing gets no more
    // parsing, and no second connect, behind its refusal. An authenticated node's
    // frames still count: its last result before the close wins.
    const role = this.#session?.info.role;
    if (this.#socket.readyState !== OPEN && role !== 'node' && role !== 'operator') return;
    if (isBinary) {
      this.close(1003, 'binary frames are not supported; send JSON text');
      return;
    }
    const text = data.toString('utf8');
    if (!jsonDepthWithin(text, MAX_FRAME_DEPTH)) {
      this.close(1008, `INVALID_REQUEST: frame nested deeper than ${MAX_FRAME_DEPTH} levels`);
      return;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      this.close(1008, 'INVALID_REQUEST: malformed JSON frame');
      return;
    }
    const frame = RequestFrame.safeParse(parsed);
    if (!frame.success) {
      this.close(1008, 'INVALID_REQUEST: expected a request frame {type:"req",id,method,params}');
      return;
    }
    const request = frame.data;
    const protoKey = mayHavePrototypeKey(text) ? prototypeKeyPath(parsed) : undefined;
    if (protoKey !== undefined) {
      this.#respondError(
        request.id,
        new OpenClawError(
          'INVALID_REQUEST',
          `a "__proto__" key is not accepted (at ${protoKey.slice(0, 128)})`,
        ),
      );
      if (!this.#session) this.close(1008, 'INVALID_REQUEST: __proto__ key in connect');
      return;
    }
    if (!this.#session) {
      if (request.method !== 'connect') {
        this.close(1008, 'INVALID_REQUEST: the first frame must be a connect request');
        return;
      }
      this.#connect(request);
      return;
    }
    if (request.method === 'connect' && this.#session.info.role !== 'pairing') {
      this.#respondError(request.id, new OpenClawError('INVALID_REQUEST', 'already connected'));
      return;
    }
    this.#call(this.#session, request);
  }

  // ------------------------------------------------------------ handshake

  #connect(request: RequestFrame): void {
    let session: Session;
    let protocol: number;
    let params: ConnectParams;
    try {
      params = parseConnect(request.params);
      protocol = negotiateProtocol(params);
      session = params.role === 'node' ? this.#connectNode(params) : this.#connectOperator(params);
    } catch (error) {
      const refused = toOpenClawError(error);
      this.#respondError(request.id, refused);
      this.close(1008, `${refused.code}: ${refused.message}`);
      return;
    }
    clearTimeout(this.#deadline);
    this.#session = session;
    const { info } = session;
    if (info.role !== 'pairing') setMaxPayload(this.#socket, this.#opts.limits.maxPayloadBytes);
    this.#opts.opened(info);
    this.#respond(request.id, this.#hello(session, protocol));
    this.#tick = setInterval(
      () => this.#event('tick', { ts: Date.now() }),
      this.#opts.settings.tickIntervalMs,
    );
    this.#tick.unref();
    if (info.role === 'node') this.#attachNode(session, params);
    else if (info.role === 'pairing') this.#requestPairing(session, params);
  }

  #connectOperator(params: ConnectParams): Session {
    const source = this.#admission.attemptSource;
    if (params.device) this.#checkDevice(params);
    let access: OperatorAccess;
    try {
      access = this.#opts.checkOperator(
        { token: params.auth?.token, password: params.auth?.password },
        source,
      );
    } catch (error) {
      throw authRefusal(error, params);
    }
    return this.#newSession(
      {
        role: 'operator',
        principal: grantedScope(access.principal, params.scopes),
        credential: access.credential,
        credentialName: access.name,
        expiresAt: access.expiresAt,
        nodeId: undefined,
        nodeKey: undefined,
      },
      params,
      undefined,
    );
  }

  #connectNode(params: ConnectParams): Session {
    const publicKey = this.#checkDevice(params);
    const identity = this.#opts.services.nodes.identifyKey(publicKey);
    if (identity.role === 'pairing') {
      this.#opts.pairingQuota.acquire(this.#admission.addressKey);
      this.#holdsPairingSlot = true;
    }
    return this.#newSession(
      {
        role: identity.role,
        principal: identity.role,
        credential: 'node-key',
        credentialName: undefined,
        expiresAt: undefined,
        nodeId: identity.role === 'node' ? identity.nodeId : undefined,
        nodeKey: identity.role === 'pairing' ? identity.nodeKey : undefined,
      },
      params,
      params.device?.id,
    );
  }

  /** The device signature over this socket's challenge, counted by the failed-attempt limiter. */
  #checkDevice(params: ConnectParams): string {
    let refused: OpenClawError | undefined;
    try {
      return this.#opts.checkCredential(
        this.#admission.attemptSource,
        () => {
          try {
            if (!params.device) {
              throw new OpenClawError('INVALID_REQUEST', 'device identity required', {
                code: 'DEVICE_IDENTITY_REQUIRED',
                loopgateCode: 'UNAUTHORIZED',
              });
            }
            return verifyDevice(params.device, params, this.#challenge);
          } catch (error) {
            if (!(error instanceof OpenClawError)) throw error;
            refused = error;
            throw new GatewayError('UNAUTHORIZED', error.message);
          }
        },
        'device authentication failed',
      );
    } catch (error) {
      if (error instanceof GatewayError && error.code === 'RATE_LIMITED') throw error;
      throw refused ?? error;
    }
  }

  #newSession(
    identity: Pick<
      ConnectionInfo,
      'role' | 'principal' | 'credential' | 'credentialName' | 'expiresAt' | 'nodeId' | 'nodeKey'
    >,
    params: ConnectParams,
    deviceId: string | undefined,
  ): Session {
    const info: ConnectionInfo = {
      id: randomUUID(),
      ...identity,
      tls: this.#opts.tls(),
      remoteAddress: this.#admission.remoteAddress,
      isLoopback: this.#admission.isLoopback,
      clientName: withoutControlCharacters(`openclaw/${params.client.id}`).slice(0, 128),
      clientVersion: withoutControlCharacters(params.client.version).slice(0, 64) || undefined,
      connectedAt: Date.now(),
      close: (code, reason) => this.close(code, reason),
      closed: this.#closed.signal,
    };
    return { info, ctx: { conn: info, services: this.#opts.services }, deviceId };
  }

  #hello(session: Session, protocol: number): Record<string, unknown> {
    const { info } = session;
    const methods = Object.entries(openClawMethods)
      .filter(([, m]) => refusal(info.principal, m.procedure) === undefined)
      .map(([name]) => name);
    return {
      type: 'hello-ok',
      protocol,
      server: { version: `loopgate ${LOOPGATE_VERSION}`, connId: info.id },
      features: {
        methods,
        events: [
          'connect.challenge',
          'tick',
          'node.invoke.request',
          'node.invoke.cancel',
          'node.pair.resolved',
        ],
      },
      snapshot: { uptimeMs: Date.now() - this.#opts.services.startedAt },
      auth: {
        role: info.role === 'operator' ? 'operator' : 'node',
        scopes: info.role === 'operator' ? scopesOf(info.principal as OperatorScope) : [],
      },
      policy: {
        maxPayload:
          info.role === 'pairing'
            ? this.#opts.limits.preAuthMaxPayloadBytes
            : this.#opts.limits.maxPayloadBytes,
        maxBufferedBytes: this.#opts.limits.maxBufferedBytes,
        tickIntervalMs: this.#opts.settings.tickIntervalMs,
      },
    };
  }

  // ------------------------------------------------------------ nodes

  /** A paired node receives invocations on this socket, as `node.invoke.request` events. */
  #attachNode(session: Session, params: ConnectParams): void {
    const deviceId = session.deviceId ?? '';
    const connection: NodeConnection = {
      connectionId: session.info.id,
      nodeId: session.info.nodeId ?? '',
      send: (message) => {
        if (this.#socket.readyState !== OPEN) throw new Error('node connection ended');
        const { event, payload } = invocationEvent(message, deviceId);
        this.#event(event, payload);
      },
      close: (code, reason) => this.close(code, reason),
    };
    try {
      this.#opts.services.nodes.attachInvocations(
        session.info,
        nodeDeclaration(params),
        connection,
      );
    } catch (error) {
      const refused = toOpenClawError(error);
      this.close(1008, `${refused.code}: ${refused.message}`);
    }
  }

  /**
   * An unpaired key asks to pair through Loopgate's own flow (pending until
   * `loopgate nodes approve`). The socket stays open meanwhile; once approved
   * it is told (`node.pair.resolved`) and closed with 1012, and the node host
   * reconnects as the paired node.
   */
  #requestPairing(session: Session, params: ConnectParams): void {
    const { info } = session;
    const nodes = this.#opts.services.nodes;
    const socket = {
      id: info.id,
      remoteAddress: info.remoteAddress,
      isLoopback: info.isLoopback,
      closed: info.closed,
      nodeKey: info.nodeKey,
    };
    nodes.requestPairing(pairingRequest(params), socket).then(
      (pairing) => {
        if (pairing.first.status === 'pending') clearTimeout(this.#deadline);
        else this.#pairingDecided(pairing.first, session);
        void pairing.decision?.then((update) => this.#pairingDecided(update, session));
      },
      (error: unknown) => {
        const refused = toOpenClawError(error);
        this.close(1008, `${refused.code}: ${refused.message}`);
      },
    );
    // Until its request is waiting the pairing socket stays on the auth deadline.
    this.#startDeadline('pairing timeout: the pairing request was not filed');
  }

  #pairingDecided(
    update: { status: string; requestId?: string; reason?: string },
    session: Session,
  ): void {
    if (update.status === 'approved') {
      this.#event('node.pair.resolved', {
        nodeId: session.deviceId,
        decision: 'approved',
        ...(update.requestId ? { requestId: update.requestId } : {}),
      });
      this.close(1012, 'paired: reconnect as the paired node');
    } else if (update.status !== 'pending') {
      this.close(
        1008,
        `NOT_PAIRED: pairing ${update.status}${update.reason ? `: ${update.reason}` : ''}`,
      );
    }
  }

  // ------------------------------------------------------------ methods

  #call(session: Session, request: RequestFrame): void {
    // Before anything else, as on the tRPC door: an unpaired key proved nothing.
    if (session.info.role === 'pairing') {
      this.#refuseWhilePairing(request);
      return;
    }
    const method = Object.hasOwn(openClawMethods, request.method)
      ? openClawMethods[request.method]
      : undefined;
    if (!method) {
      this.#respondError(
        request.id,
        new OpenClawError('INVALID_REQUEST', `unknown method: ${request.method.slice(0, 64)}`),
      );
      return;
    }
    const denied = refusal(session.info.principal, method.procedure);
    if (denied) {
      this.#respondError(request.id, toOpenClawError(denied));
      return;
    }
    if (this.#inFlight >= MAX_IN_FLIGHT) {
      this.#respondError(
        request.id,
        new OpenClawError(
          'UNAVAILABLE',
          `at most ${MAX_IN_FLIGHT} requests in flight per connection`,
        ),
      );
      return;
    }
    this.#inFlight++;
    Promise.resolve()
      .then(() =>
        method.run({
          ctx: session.ctx,
          params: request.params,
          signal: this.#closed.signal,
          deviceId: session.deviceId,
        }),
      )
      .then(
        (payload) => this.#respond(request.id, payload),
        (error: unknown) => this.#respondError(request.id, toOpenClawError(error)),
      )
      .finally(() => {
        if (--this.#inFlight === 0) this.#onSettled?.();
      });
  }

  /**
   * A waiting node's housekeeping (node.event, skills, …) is answered
   * NOT_PAIRED and tolerated a few times a minute, as its node host sends
   * some; anything else, or more, closes it: each frame costs a parse, and
   * the peer holds no credential.
   */
  #refuseWhilePairing(request: RequestFrame): void {
    this.#respondError(
      request.id,
      toOpenClawError(
        new GatewayError(
          'NOT_PAIRED',
          'this node is waiting for approval (loopgate nodes approve)',
        ),
      ),
    );
    const now = Date.now();
    if (now - this.#housekeepingWindowStart >= 60_000) {
      this.#housekeepingWindowStart = now;
      this.#housekeepingInWindow = 0;
    }
    if (
      NODE_HOUSEKEEPING.has(request.method) &&
      ++this.#housekeepingInWindow <= MAX_HOUSEKEEPING_PER_MINUTE
    )
      return;
    this.close(
      CloseCode.forbidden,
      NODE_HOUSEKEEPING.has(request.method)
        ? `NOT_PAIRED: more than ${MAX_HOUSEKEEPING_PER_MINUTE} requests a minute while waiting for approval`
        : 'NOT_PAIRED: an unpaired node may only wait for approval',
    );
  }

  // ------------------------------------------------------------ wire

  #respond(id: string, payload: unknown): void {
    this.#send({ type: 'res', id, ok: true, payload });
  }

  #respondError(id: string, error: OpenClawError): void {
    this.#send({ type: 'res', id, ok: false, error: error.toFrame() });
  }

  #event(event: string, payload: unknown): void {
    this.#send({ type: 'event', event, payload, seq: ++this.#seq });
  }

  /** The one place bytes leave: a peer that stops reading is closed, not buffered for. */
  #send(frame: unknown): void {
    const socket = this.#socket;
    if (socket.readyState !== OPEN) return;
    socket.send(JSON.stringify(frame));
    if (socket.bufferedAmount > this.#opts.limits.maxBufferedBytes) {
      this.close(CloseCode.slowConsumer, 'slow consumer: outgoing buffer limit exceeded');
    }
  }

  #onClose(code: number): void {
    clearTimeout(this.#deadline);
    clearInterval(this.#tick);
    this.#closed.abort();
    if (this.#holdsPairingSlot) this.#opts.pairingQuota.release(this.#admission.addressKey);
    if (this.#session) this.#opts.closed(this.#session.info, code);
  }
}
