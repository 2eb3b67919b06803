import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import {
  CloseCode,
  ConnectionParams,
  GatewayError,
  type HealthOutput,
  IDENTITY_HEADERS,
  LOOPGATE_VERSION,
  LoopgateConfig,
  type LoopgateConfigInput,
  NODE_CHALLENGE_HEADER,
  procedureSetHash,
  type StatusOutput,
} from '@loopgate/protocol';
import { callTRPCProcedure } from '@trpc/server';
import { AgentRuntime, nodeServiceInvoker } from './agent/index.js';
import {
  type AttemptSource,
  closeAtExpiry,
  FailedAttemptLimiter,
  type GatewayCredential,
  OPERATOR_TOKENS_FILE_NAME,
  type OperatorAccess,
  OperatorTokens,
  resolveCredential,
  resolveOperatorAccess,
  rotateGeneratedToken,
  TailscaleWhois,
} from './auth/index.js';
import { ChannelManager } from './channels/index.js';
import { defaultStateDir } from './config/index.js';
import { EventBus } from './events/index.js';
import { createLogger, type Logger, LogRing } from './log/index.js';
import { type NodeIdentity, NodeService, newChallenge } from './nodes/index.js';
import { OpenClawEndpoint } from './openclaw/index.js';
import { appRouter, servedProcedures } from './router/app-router.js';
import type { ConnectionInfo, GatewayContext } from './router/context.js';
import type { ConnectionTracker, GatewayServices } from './services.js';
import { SessionStore } from './sessions/index.js';
import { acquireStateLock, type StateLock } from './state-lock/index.js';
import { removeStaleTempFiles } from './store/index.js';
import { ensureGatewayCertificate, type GatewayCertificate } from './tls/index.js';
import {
  type AdmissionAccepted,
  type AdmissionPolicy,
  admissionPolicyFrom,
  admitUpgrade,
  assertBindAllowed,
  type BoundAddress,
  Listener,
  PairingQuota,
  RpcConnection,
  resolveBindHosts,
  type TailscaleIdentity,
} from './transport/index.js';

export type CreateGatewayOptions = {
  /** Defaults to `LOOPGATE_STATE_DIR` or `~/.loopgate`. */
  stateDir?: string;
  /** A ready logger; otherwise one is built from `config.logging`. */
  logger?: Logger;
  /** Which credential sources were explicit (from `loadConfig`), for the exposure rule. */
  explicitCredential?: {
    token?: 'config' | 'env' | 'flag' | undefined;
    password?: 'config' | 'env' | 'flag' | undefined;
  };
};

export type Gateway = {
  start(): Promise<void>;
  /** Graceful: tells clients why, closes sockets, flushes state. */
  stop(reason?: string): Promise<void>;
  readonly config: LoopgateConfig;
  readonly stateDir: string;
  /** Bound addresses after `start()`; the first is the one to dial. */
  readonly addresses: BoundAddress[];
  readonly url: string;
  readonly port: number;
  /** Where local clients find the generated token, when one was generated. */
  readonly tokenPath: string | undefined;
  /** SHA-256 fingerprint (`AA:BB:…`) of the certificate served, when TLS is on. */
  readonly tlsFingerprint: string | undefined;
  readonly services: GatewayServices;
};

type LiveConnection = { info: ConnectionInfo };
/** A socket of either endpoint that may not have sent its credential yet. */
type SilentSocket = Pick<RpcConnection, 'awaitingCredentials' | 'close' | 'terminate'>;

/** Builds a gateway from a config (validated here, defaults applied). Nothing listens until `start()`. */
export function createGateway(
  configInput: LoopgateConfigInput | LoopgateConfig = {},
  options: CreateGatewayOptions = {},
): Gateway {
  const config = LoopgateConfig.parse(configInput);
  const stateDir = options.stateDir ?? defaultStateDir();
  const logFile = config.logging.file ?? join(stateDir, 'logs', 'gateway.log');
  const logRing = new LogRing();
  const log =
    options.logger ??
    createLogger({
      level: config.logging.level,
      file: logFile,
      stderr: config.logging.stderr,
      ring: logRing,
    });
  const startedAt = Date.now();
  const events = new EventBus({
    replayBufferSize: config.gateway.events.replayBufferSize,
    logPath: join(stateDir, 'events.jsonl'),
  });
  const nodes = new NodeService({ config, stateDir, events, log });
  const sessions = new SessionStore({ stateDir, events, log });
  const agent = new AgentRuntime({
    config,
    sessions,
    tools: nodeServiceInvoker(nodes),
    events,
    log,
  });
  const channels = new ChannelManager({ config, stateDir, events, log, sessions, agent });
  const live = new Map<string, LiveConnection>();
  const operatorTokens = new OperatorTokens({
    path: join(stateDir, OPERATOR_TOKENS_FILE_NAME),
    connections: { all: () => [...live.values()].map((c) => c.info) },
    events,
  });
  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  let credential: GatewayCredential | undefined;
  let certificate: GatewayCertificate | undefined;
  let listener: Listener | undefined;
  let admissionPolicy: AdmissionPolicy | undefined;
  const limiter = new FailedAttemptLimiter(config.gateway.auth.rateLimit);
  const tailscaleWhois = new TailscaleWhois();
  /** Accepted sockets per address key (authenticated or not; IPv6 by /64), for the per-address cap. */
  const socketsByAddress = new Map<string, number>();
  let socketCount = 0;
  /** Sockets in the order they were accepted, until they present a credential or close. */
  const silentSockets = new Set<SilentSocket>();
  /** Closes the oldest socket that has sent nothing yet, to admit a new one at the global cap. */
  const evictOldestSilent = (): boolean => {
    for (const rpc of silentSockets) {
      silentSockets.delete(rpc);
      if (!rpc.awaitingCredentials) continue;
      rpc.close(
        CloseCode.tryAgainLater,
        'LIMIT_EXCEEDED: the gateway is full and this socket had not authenticated; it made room for another',
      );
      rpc.terminate();
      return true;
    }
    return false;
  };
  const pairingQuota = new PairingQuota(config.gateway.limits);
  let healthTimer: NodeJS.Timeout | undefined;
  let started = false;
  let stateLock: StateLock | undefined;

  const connections: ConnectionTracker = {
    *all() {
      for (const c of live.values()) yield c.info;
    },
    counts() {
      let operators = 0;
      let nodes = 0;
      for (const c of live.values()) {
        if (c.info.role === 'operator') operators++;
        else nodes++;
      }
      return { operators, nodes, total: live.size };
    },
  };

  /**
   * Event-loop delay p99 over the last interval (as HealthOutput documents):
   * read and reset at most once a second, so a busy `health` caller neither
   * pays for the percentile on every call nor sees an all-time figure.
   */
  let loopDelayP99Ms = 0;
  let loopDelaySampledAt = 0;
  const eventLoopDelayP99 = (now: number): number => {
    if (now - loopDelaySampledAt >= 1_000) {
      loopDelayP99Ms = loopDelay.count > 0 ? Math.round(loopDelay.percentile(99) / 1e4) / 100 : 0;
      loopDelay.reset();
      loopDelaySampledAt = now;
    }
    return loopDelayP99Ms;
  };

  const health = (): HealthOutput => {
    const t0 = performance.now();
    const now = Date.now();
    return {
      ok: true,
      version: LOOPGATE_VERSION,
      uptimeMs: now - startedAt,
      eventLoopDelayMs: eventLoopDelayP99(now),
      connections: connections.counts(),
      checkDurationMs: performance.now() - t0,
    };
  };

  const status = async (options?: { deep: boolean }): Promise<StatusOutput> => {
    const bound = listener?.addresses ?? [];
    return {
      version: LOOPGATE_VERSION,
      pid: process.pid,
      startedAt,
      bind: {
        mode: config.gateway.bind,
        addresses: bound.map((b) => b.host),
        port: bound[0]?.port ?? config.gateway.port,
        urls: bound.map((b) => b.url),
      },
      auth: {
        mode: credential?.mode ?? 'token',
        source: credential?.source ?? 'generated',
        allowTailscale: config.gateway.auth.allowTailscale,
        ...(config.gateway.auth.allowTailscale
          ? { tailscale: `tailscale identity: ${await tailscaleWhois.availability()}` }
          : {}),
      },
      tls: {
        enabled: config.gateway.tls.enabled,
        ...(certificate ? { fingerprint: certificate.fingerprint } : {}),
      },
      connections: connections.counts(),
      nodes: nodes.counts(),
      sessions: agent.statusSummary(),
      channels: await channels.status({ deep: options?.deep ?? false }),
      events: { lastEventId: events.lastEventId },
      ...(options?.deep ? { deep: { nodes: await nodes.probe() } } : {}),
    };
  };

  const dispatch: GatewayServices['dispatch'] = async (method, params, ctx, signal) => {
    const procedure = (
      appRouter._def.procedures as unknown as Record<
        string,
        { _def: { type: 'query' | 'mutation' | 'subscription' } } | undefined
      >
    )[method];
    if (!procedure) throw new GatewayError('NOT_FOUND', `no procedure named "${method}"`);
    if (procedure._def.type === 'subscription') {
      throw new GatewayError(
        'BAD_REQUEST',
        `"${method}" is a subscription; subscribe to it instead of calling it`,
      );
    }
    return callTRPCProcedure({
      router: appRouter,
      path: method,
      getRawInput: async () => params,
      ctx,
      type: procedure._def.type,
      signal,
      batchIndex: 0,
    });
  };

  const rotateToken = async (): Promise<{ tokenPath: string }> => {
    if (credential?.source !== 'generated') {
      throw new GatewayError(
        'CONFLICT',
        'the operator credential comes from configuration or the environment; change it there and restart the gateway',
      );
    }
    credential = await rotateGeneratedToken(stateDir);
    events.emit({ type: 'auth.rotated' });
    // Let the caller's reply go out first, then drop every socket on the old token
    // (named operator tokens and Tailscale identities are not the gateway token).
    setImmediate(() => {
      for (const { info } of live.values()) {
        if (info.credential === 'gateway-token')
          info.close(CloseCode.unauthorized, 'UNAUTHORIZED: the gateway token was rotated');
      }
    });
    return { tokenPath: credential.tokenPath! };
  };

  const services: GatewayServices = {
    config,
    stateDir,
    log,
    logs: { ring: logRing, file: options.logger ? undefined : logFile },
    events,
    startedAt,
    connections,
    nodes,
    sessions,
    agent,
    channels,
    health,
    status,
    dispatch,
    rotateToken,
    operatorTokens,
  };

  /**
   * Every credential check (operator secret or node signature) goes through
   * the failed-attempt limiter: a locked-out address is refused before its
   * secret is even looked at, and each failure — `verify` returning nothing,
   * or throwing a typed refusal — counts toward the lockout.
   */
  const checkCredential = <T>(
    source: AttemptSource,
    verify: () => T | undefined,
    failure: string | (() => string),
  ): T => {
    const now = Date.now();
    const gate = limiter.check(source, now);
    if (!gate.allowed) {
      throw new GatewayError(
        'RATE_LIMITED',
        'too many failed authentication attempts from this address',
        {
          details: { retryAfterMs: gate.retryAfterMs },
        },
      );
    }
    let refusal: GatewayError | undefined;
    try {
      const verified = verify();
      if (verified !== undefined) return verified;
    } catch (error) {
      if (!(error instanceof GatewayError)) throw error;
      refusal = error;
    }
    const after = limiter.recordFailure(source, now);
    throw new GatewayError(
      refusal?.code ?? 'UNAUTHORIZED',
      refusal?.message ?? (typeof failure === 'string' ? failure : failure()),
      after.allowed ? undefined : { details: { retryAfterMs: after.retryAfterMs } },
    );
  };

  /**
   * A node socket proves its key over the challenge its upgrade response
   * carried. A missing proof (an old node presenting a token) is a failed
   * attempt like a wrong one.
   */
  const checkNodeProof = (
    params: ConnectionParams,
    challenge: string | undefined,
    admission: AdmissionAccepted,
  ): NodeIdentity =>
    checkCredential(
      admission.attemptSource,
      () => {
        const { nodeKey, nodeSignature } = params;
        if (nodeKey === undefined || nodeSignature === undefined || challenge === undefined) {
          throw new GatewayError(
            'UNAUTHORIZED',
            "a node must sign this connection's challenge: pass nodeKey and nodeSignature in connectionParams (node tokens are no longer accepted; update the node)",
          );
        }
        return nodes.authenticate({
          challenge,
          publicKey: nodeKey,
          signature: nodeSignature,
          nodeId: params.nodeId,
        });
      },
      'node authentication failed',
    );

  /** The challenge each accepted upgrade's response carried, until its socket authenticates. */
  const challenges = new WeakMap<IncomingMessage, string>();

  /** The gateway's own secret (admin) or a named operator token (its scope), through the limiter. */
  const checkOperator = (params: ConnectionParams, source: AttemptSource): OperatorAccess => {
    const gatewayCredential = credential;
    if (!gatewayCredential) throw new GatewayError('UNAVAILABLE', 'gateway is not ready');
    let failure = 'invalid token';
    return checkCredential(
      source,
      () => {
        const result = resolveOperatorAccess(params, gatewayCredential, operatorTokens, Date.now());
        if (result.ok) return result.access;
        failure = result.failure;
        return undefined;
      },
      () => failure,
    );
  };

  /**
   * A Tailscale Serve identity is only a claim until the local daemon confirms
   * it (`tailscale whois`); resolves with the confirmed login, or undefined
   * when it is not confirmed and the request must authenticate like any other.
   */
  const confirmTailscale = async (
    claim: TailscaleIdentity,
    source: AttemptSource,
  ): Promise<string | undefined> => {
    const gate = limiter.check(source, Date.now());
    if (!gate.allowed)
      throw new GatewayError(
        'RATE_LIMITED',
        'too many failed authentication attempts from this address',
        {
          details: { retryAfterMs: gate.retryAfterMs },
        },
      );
    const verdict = await tailscaleWhois.verify(claim.login, claim.clientAddress);
    if (verdict.ok) return verdict.login;
    log.warn({ reason: verdict.reason }, 'tailscale identity headers not confirmed; ignored');
    return undefined;
  };

  /** An authenticated socket (of either endpoint) joins the connection table, presence and events. */
  const connectionOpened = (info: ConnectionInfo): void => {
    live.set(info.id, { info });
    closeAtExpiry(info);
    nodes.onConnectionOpened(info);
    // An unpaired peer proved only a key it made up: its comings and goings are not
    // durable events, or a stranger connecting in a loop would push every real event
    // out of the replay buffer operators resume from. Its request is (node.pair.requested).
    if (info.role === 'pairing') return;
    events.emit({
      type: 'connection.opened',
      connectionId: info.id,
      role: info.role,
      remoteAddress: info.remoteAddress,
      ...(info.clientName ? { clientName: info.clientName } : {}),
    });
  };

  const connectionClosed = (info: ConnectionInfo, code: number): void => {
    live.delete(info.id);
    nodes.onConnectionClosed(info, code);
    if (info.role === 'pairing') return;
    events.emit({ type: 'connection.closed', connectionId: info.id, role: info.role, code });
  };

  const openclaw = new OpenClawEndpoint({
    settings: config.gateway.openclaw,
    limits: config.gateway.limits,
    services,
    checkOperator,
    checkCredential,
    pairingQuota,
    opened: connectionOpened,
    closed: connectionClosed,
    tls: () => certificate !== undefined,
  });

  const authenticate = (
    rawParams: Record<string, string> | null,
    admission: AdmissionAccepted,
    rpc: RpcConnection,
    challenge: string | undefined,
    tailscaleLogin?: string,
  ): GatewayContext | Promise<GatewayContext> => {
    const parsed = ConnectionParams.safeParse(rawParams ?? {});
    if (!parsed.success) throw new GatewayError('UNAUTHORIZED', 'malformed connection params');
    const params = parsed.data;
    const { remoteAddress } = admission;
    let role: ConnectionInfo['role'] = 'operator';
    let nodeId: string | undefined;
    let nodeKey: string | undefined;
    let operator: OperatorAccess | undefined;
    if (params.role === 'node' || params.role === 'pairing') {
      const identity = checkNodeProof(params, challenge, admission);
      role = identity.role;
      if (identity.role === 'node') nodeId = identity.nodeId;
      else {
        nodeKey = identity.nodeKey;
        pairingQuota.acquire(admission.addressKey);
      }
    } else {
      const claim = config.gateway.auth.allowTailscale ? admission.tailscaleIdentity : undefined;
      if (claim && tailscaleLogin === undefined) {
        // Unconfirmed headers are dropped, so the request has no credential from them.
        return confirmTailscale(claim, admission.attemptSource).then((login) =>
          login
            ? authenticate(rawParams, admission, rpc, challenge, login)
            : authenticate(
                rawParams,
                { ...admission, tailscaleIdentity: undefined },
                rpc,
                challenge,
              ),
        );
      }
      operator =
        tailscaleLogin !== undefined
          ? {
              principal: 'operator.admin',
              credential: 'tailscale',
              name: tailscaleLogin,
              expiresAt: undefined,
            }
          : checkOperator(params, admission.attemptSource);
    }
    const info: ConnectionInfo = {
      id: randomUUID(),
      role,
      principal: operator?.principal ?? (role === 'node' ? 'node' : 'pairing'),
      credential: operator?.credential ?? 'node-key',
      credentialName: operator?.name,
      expiresAt: operator?.expiresAt,
      tls: certificate !== undefined,
      remoteAddress,
      isLoopback: admission.isLoopback,
      clientName: params.clientName,
      clientVersion: params.clientVersion,
      nodeId,
      nodeKey,
      connectedAt: Date.now(),
      close: (code, reason) => rpc.close(code, reason),
      closed: rpc.closedSignal,
    };
    connectionOpened(info);
    return { conn: info, services };
  };

  const admit = (request: IncomingMessage) =>
    admitUpgrade(
      { headers: request.headers, remoteAddress: request.socket.remoteAddress },
      {
        policy: admissionPolicy!,
        connections: {
          total: () => socketCount,
          forAddress: (key) => socketsByAddress.get(key) ?? 0,
          makeRoom: evictOldestSilent,
        },
        limiter,
        now: Date.now(),
      },
    );

  const onConnection = (
    socket: import('ws').WebSocket,
    request: IncomingMessage,
    admission: AdmissionAccepted,
  ) => {
    const address = admission.addressKey;
    socketCount++;
    socketsByAddress.set(address, (socketsByAddress.get(address) ?? 0) + 1);
    socket.once('close', () => {
      socketCount--;
      const left = (socketsByAddress.get(address) ?? 1) - 1;
      if (left === 0) socketsByAddress.delete(address);
      else socketsByAddress.set(address, left);
    });
    if (openclaw.owns(request)) {
      const conn = openclaw.accept(socket, admission);
      silentSockets.add(conn);
      socket.once('close', () => silentSockets.delete(conn));
      return;
    }
    const rpc: RpcConnection = new RpcConnection({
      router: appRouter,
      socket,
      request,
      limits: config.gateway.limits,
      authenticate: (params) => authenticate(params, admission, rpc, challenges.get(request)),
      onError: (error, path) => {
        if (error.code === 'INTERNAL_SERVER_ERROR')
          log.error({ path, err: error.cause ?? error }, 'procedure failed');
      },
      onClosed: (ctx, code) => {
        silentSockets.delete(rpc);
        if (!ctx) return;
        if (ctx.conn.role === 'pairing') pairingQuota.release(admission.addressKey);
        connectionClosed(ctx.conn, code);
      },
    });
    if (rpc.awaitingCredentials) silentSockets.add(rpc);
  };

  /** Everything `start()` does once it holds the state dir. */
  const startHoldingLock = async (lock: StateLock): Promise<void> => {
    credential = await resolveCredential(config, stateDir, options.explicitCredential);
    const hosts = resolveBindHosts(config.gateway.bind, {
      customBindHost: config.gateway.customBindHost,
      interfaces: networkInterfaces(),
    });
    // Exposure beyond loopback is always a conscious act: the generated local token does not count.
    assertBindAllowed(config.gateway.bind, hosts, credential.source !== 'generated');
    if (config.gateway.tls.enabled) {
      const { certPath, keyPath } = config.gateway.tls;
      certificate = await ensureGatewayCertificate({ stateDir, hosts, certPath, keyPath });
    }
    await events.open();
    await nodes.open();
    await operatorTokens.open();
    await sessions.open();
    await agent.open();
    loopDelay.enable();
    // Ready before the first socket can bind: an upgrade may arrive on the first host while
    // the others are still binding. A host that then fails to bind (::1 without IPv6) only
    // widens the accepted Host names by a loopback address.
    admissionPolicy = admissionPolicyFrom(config, hosts);
    listener = new Listener({
      hosts,
      port: config.gateway.port,
      tls: certificate ? { cert: certificate.cert, key: certificate.key } : undefined,
      maxPayloadBytes: config.gateway.limits.maxPayloadBytes,
      maxConnectionsPerAddress: config.gateway.limits.maxConnectionsPerAddress,
      headersTimeoutMs: config.gateway.limits.headersTimeoutMs,
      pingIntervalMs: config.gateway.limits.pingIntervalMs,
      pongTimeoutMs: config.gateway.limits.pongTimeoutMs,
      identityHeaders: {
        [IDENTITY_HEADERS.version]: LOOPGATE_VERSION,
        [IDENTITY_HEADERS.procedures]: procedureSetHash(servedProcedures()),
      },
      upgradeHeaders: (request) => {
        const challenge = newChallenge();
        challenges.set(request, challenge);
        return { [NODE_CHALLENGE_HEADER]: challenge };
      },
      admit,
      onConnection,
      onHttpRequest: (req, res) => channels.handleHttpRequest(req, res),
    });
    const bound = await listener.listen();
    admissionPolicy = admissionPolicyFrom(
      config,
      bound.map((b) => b.host),
    );
    if (bound[0]) await lock.recordListening(bound[0].port, bound[0].url);
    healthTimer = setInterval(
      () => events.emit({ type: 'health.tick', health: health() }),
      config.gateway.events.healthTickMs,
    );
    healthTimer.unref();
    await channels.open();
    events.emit({ type: 'gateway.started', version: LOOPGATE_VERSION });
    // Leftovers of a crash mid-write (temp file written, never renamed). Off the start-up
    // path: nothing reads them, and a big sessions folder should not delay the first socket.
    void removeStaleTempFiles(stateDir).then((removed) => {
      if (removed.length > 0)
        log.info({ files: removed.length }, 'removed temp files left by an interrupted write');
    });
    log.info(
      {
        addresses: listener.addresses.map((a) => a.url),
        auth: credential.mode,
        authSource: credential.source,
      },
      'gateway listening',
    );
  };

  const gateway: Gateway = {
    config,
    stateDir,
    services,
    get addresses() {
      return listener?.addresses ?? [];
    },
    get url() {
      const first = listener?.addresses[0];
      if (!first) throw new Error('gateway is not started');
      return first.url;
    },
    get port() {
      return listener?.addresses[0]?.port ?? config.gateway.port;
    },
    get tokenPath() {
      return credential?.tokenPath;
    },
    get tlsFingerprint() {
      return certificate?.fingerprint;
    },

    async start() {
      if (started) return;
      started = true;
      // Before any state is read or written: a second gateway on this dir must change no byte.
      try {
        stateLock = await acquireStateLock(stateDir, { version: LOOPGATE_VERSION });
      } catch (error) {
        started = false;
        throw error;
      }
      if (stateLock.replaced) {
        const { holder, reason } = stateLock.replaced;
        log.warn(
          { stalePid: holder.pid, staleSince: new Date(holder.startedAt).toISOString(), reason },
          'took over the state-dir lock of a gateway that no longer runs',
        );
      }
      try {
        await startHoldingLock(stateLock);
      } catch (error) {
        // A failed start (port taken, bad TLS files) must not leave the dir locked for the next try.
        started = false;
        await stateLock.release();
        stateLock = undefined;
        throw error;
      }
    },

    async stop(reason = 'gateway shutting down') {
      if (!started) return;
      started = false;
      clearInterval(healthTimer);
      events.emit({ type: 'gateway.stopping', reason });
      await listener?.close(reason);
      // Channels stop taking messages, runs end (transcripts flushed), then nodes go.
      await channels.close();
      await agent.close();
      await sessions.close();
      await nodes.close();
      await operatorTokens.close();
      loopDelay.disable();
      await events.close();
      await stateLock?.release();
      stateLock = undefined;
      log.info({ reason }, 'gateway stopped');
      log.flush?.();
    },
  };
  return gateway;
}
