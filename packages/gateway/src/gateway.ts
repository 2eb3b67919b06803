import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { join } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import {
  CloseCode,
  ConnectionParams,
  GatewayError,
  type HealthOutput,
  LOOPGATE_VERSION,
  LoopgateConfig,
  type LoopgateConfigInput,
  type StatusOutput,
} from '@loopgate/protocol';
import { callTRPCProcedure } from '@trpc/server';
import { type GatewayCredential, resolveCredential, secretMatches } from './auth/index.js';
import { defaultStateDir } from './config/index.js';
import { EventBus } from './events/index.js';
import { createLogger, type Logger } from './log/index.js';
import { appRouter } from './router/app-router.js';
import type { ConnectionInfo, GatewayContext } from './router/context.js';
import type { ConnectionTracker, GatewayServices } from './services.js';
import { type BoundAddress, Listener, RpcConnection, type UpgradeDecision } from './transport/index.js';

export type CreateGatewayOptions = {
  /** Defaults to `LOOPGATE_STATE_DIR` or `~/.loopgate`. */
  stateDir?: string;
  /** A ready logger; otherwise one is built from `config.logging`. */
  logger?: Logger;
  /** Which credential sources were explicit (from `loadConfig`), for the exposure rule. */
  explicitCredential?: { token?: 'config' | 'env' | 'flag' | undefined; password?: 'config' | 'env' | 'flag' | undefined };
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
  readonly services: GatewayServices;
};

type LiveConnection = { info: ConnectionInfo; rpc: RpcConnection };

/** Builds a gateway from a config (validated here, defaults applied). Nothing listens until `start()`. */
export function createGateway(configInput: LoopgateConfigInput | LoopgateConfig = {}, options: CreateGatewayOptions = {}): Gateway {
  const config = LoopgateConfig.parse(configInput);
  const stateDir = options.stateDir ?? defaultStateDir();
  const log =
    options.logger ??
    createLogger({
      level: config.logging.level,
      file: config.logging.file ?? join(stateDir, 'logs', 'gateway.log'),
      stderr: config.logging.stderr,
    });
  const startedAt = Date.now();
  const events = new EventBus({ replayBufferSize: config.gateway.events.replayBufferSize, logPath: join(stateDir, 'events.jsonl') });
  const live = new Map<string, LiveConnection>();
  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  let credential: GatewayCredential | undefined;
  let listener: Listener | undefined;
  let healthTimer: NodeJS.Timeout | undefined;
  let started = false;

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

  const health = (): HealthOutput => {
    const t0 = performance.now();
    const delay = loopDelay.count > 0 ? loopDelay.percentile(99) / 1e6 : 0;
    return {
      ok: true,
      version: LOOPGATE_VERSION,
      uptimeMs: Date.now() - startedAt,
      eventLoopDelayMs: Math.round(delay * 100) / 100,
      connections: connections.counts(),
      checkDurationMs: performance.now() - t0,
    };
  };

  const status = async (): Promise<StatusOutput> => {
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
      },
      tls: { enabled: config.gateway.tls.enabled },
      connections: connections.counts(),
      nodes: { paired: 0, online: 0, pending: 0 },
      sessions: { total: 0, activeRuns: 0 },
      channels: [],
      events: { lastEventId: events.lastEventId },
    };
  };

  const dispatch: GatewayServices['dispatch'] = async (method, params, ctx, signal) => {
    const procedure = (appRouter._def.procedures as Record<string, { _def: { type: 'query' | 'mutation' | 'subscription' } } | undefined>)[method];
    if (!procedure) throw new GatewayError('NOT_FOUND', `no procedure named "${method}"`);
    if (procedure._def.type === 'subscription') {
      throw new GatewayError('BAD_REQUEST', `"${method}" is a subscription; subscribe to it instead of calling it`);
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

  const services: GatewayServices = { config, stateDir, log, events, startedAt, connections, health, status, dispatch };

  const authenticate = (rawParams: Record<string, string> | null, request: IncomingMessage, rpc: RpcConnection): GatewayContext => {
    const parsed = ConnectionParams.safeParse(rawParams ?? {});
    if (!parsed.success) throw new GatewayError('UNAUTHORIZED', 'malformed connection params');
    const params = parsed.data;
    const remoteAddress = request.socket.remoteAddress ?? 'unknown';
    const role = params.role === 'node' && !params.nodeToken ? 'pairing' : (params.role ?? 'operator');
    if (role === 'operator') {
      if (!credential) throw new GatewayError('UNAVAILABLE', 'gateway is not ready');
      const presented = credential.mode === 'password' ? params.password : params.token;
      if (presented === undefined) {
        throw new GatewayError('UNAUTHORIZED', `missing ${credential.mode}: pass it in connectionParams (never in the URL)`);
      }
      if (!secretMatches(presented, credential.digest)) throw new GatewayError('UNAUTHORIZED', `invalid ${credential.mode}`);
    } else if (role === 'node') {
      throw new GatewayError('UNAUTHORIZED', 'unknown node token');
    }
    const info: ConnectionInfo = {
      id: randomUUID(),
      role,
      remoteAddress,
      isLoopback: isLoopback(remoteAddress),
      clientName: params.clientName,
      clientVersion: params.clientVersion,
      nodeId: undefined,
      connectedAt: Date.now(),
      close: (code, reason) => rpc.close(code, reason),
      closed: rpc.closedSignal,
    };
    live.set(info.id, { info, rpc });
    events.emit({ type: 'connection.opened', connectionId: info.id, role, remoteAddress, ...(info.clientName ? { clientName: info.clientName } : {}) });
    return { conn: info, services };
  };

  const admit = (request: IncomingMessage): UpgradeDecision => {
    const origin = request.headers.origin;
    if (origin !== undefined && !config.gateway.auth.allowedOrigins.includes(origin)) {
      return { ok: false, status: 403, reason: `origin ${origin === 'null' ? 'null' : 'not allowed'}` };
    }
    if (live.size >= config.gateway.limits.maxConnections) return { ok: false, status: 503, reason: 'too many connections' };
    return { ok: true };
  };

  const onConnection = (socket: import('ws').WebSocket, request: IncomingMessage) => {
    const rpc: RpcConnection = new RpcConnection({
      router: appRouter,
      socket,
      request,
      limits: config.gateway.limits,
      authenticate: (params) => authenticate(params, request, rpc),
      onError: (error, path) => {
        if (error.code === 'INTERNAL_SERVER_ERROR') log.error({ path, err: error.cause ?? error }, 'procedure failed');
      },
      onClosed: (ctx, code) => {
        if (!ctx) return;
        live.delete(ctx.conn.id);
        events.emit({ type: 'connection.closed', connectionId: ctx.conn.id, role: ctx.conn.role, code });
      },
    });
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

    async start() {
      if (started) return;
      started = true;
      credential = await resolveCredential(config, stateDir, options.explicitCredential);
      await events.open();
      loopDelay.enable();
      listener = new Listener({
        hosts: ['127.0.0.1', '::1'],
        port: config.gateway.port,
        maxPayloadBytes: config.gateway.limits.maxPayloadBytes,
        headersTimeoutMs: config.gateway.limits.headersTimeoutMs,
        pingIntervalMs: config.gateway.limits.pingIntervalMs,
        pongTimeoutMs: config.gateway.limits.pongTimeoutMs,
        admit,
        onConnection,
      });
      await listener.listen();
      healthTimer = setInterval(() => events.emit({ type: 'health.tick', health: health() }), config.gateway.events.healthTickMs);
      healthTimer.unref();
      events.emit({ type: 'gateway.started', version: LOOPGATE_VERSION });
      log.info({ addresses: listener.addresses.map((a) => a.url), auth: credential.mode, authSource: credential.source }, 'gateway listening');
    },

    async stop(reason = 'gateway shutting down') {
      if (!started) return;
      started = false;
      clearInterval(healthTimer);
      events.emit({ type: 'gateway.stopping', reason });
      await listener?.close(reason);
      loopDelay.disable();
      await events.close();
      log.info({ reason }, 'gateway stopped');
      log.flush?.();
    },
  };
  return gateway;
}

function isLoopback(address: string): boolean {
  return address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.');
}

export { CloseCode };
