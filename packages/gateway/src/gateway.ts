import { join } from 'node:path';
import { LoopgateConfig, type LoopgateConfigInput } from '@loopgate/protocol';
import { AgentRuntime, nodeServiceInvoker } from './agent/index.js';
import {
  ConnectionAuthenticator,
  FailedAttemptLimiter,
  OPERATOR_TOKENS_FILE_NAME,
  OperatorTokens,
  rotateGatewayToken,
  TailscaleWhois,
} from './auth/index.js';
import { ChannelManager } from './channels/index.js';
import { defaultStateDir } from './config/index.js';
import { ConnectionAcceptor, ConnectionRegistry } from './connections/index.js';
import { EventBus } from './events/index.js';
import { type GatewayPart, openGateway, STOP_ORDER, type StartedState } from './gateway-start.js';
import { Lifecycle } from './lifecycle/index.js';
import { createLogger, type Logger, LogRing } from './log/index.js';
import { NodeService } from './nodes/index.js';
import { OpenClawEndpoint } from './openclaw/index.js';
import { dispatchByName } from './router/dispatch.js';
import type { GatewayServices } from './services.js';
import { SessionStore } from './sessions/index.js';
import { assertPrivateStateDir } from './state-lock/index.js';
import { EventLoopDelay, gatewayStatus } from './status/index.js';
import { type BoundAddress, PairingQuota } from './transport/index.js';

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
  /**
   * Locks the state dir, opens state, binds the sockets; resolves once all
   * of it is open. A start that fails (port in use, state dir locked, TLS
   * files unreadable) closes what it had opened, releases the lock and
   * rejects, and may be retried. A second `start()` while one is under way
   * returns the same promise; once started, it resolves at once.
   */
  start(): Promise<void>;
  /**
   * Graceful: tells clients why, runs nothing they send from then on, answers
   * the calls already running (bounded), closes sockets, flushes state,
   * releases the lock. Idempotent: a second call returns the same promise, and a stop of
   * a gateway never started resolves at once.
   */
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

/**
 * Builds a gateway from a config (validated here, defaults applied). Nothing
 * listens until `start()`. Throws UnsafeStateDirError for a state dir another
 * user owns or may write into, before anything is read from it or written. This is the composition root: each service is
 * built in its own folder and only wired together here.
 */
export function createGateway(
  configInput: LoopgateConfigInput | LoopgateConfig = {},
  options: CreateGatewayOptions = {},
): Gateway {
  const config = LoopgateConfig.parse(configInput);
  const stateDir = options.stateDir ?? defaultStateDir();
  assertPrivateStateDir(stateDir);
  const parts = buildServices(config, stateDir, options);
  const { services, state, log } = parts;
  const lifecycle = new Lifecycle<GatewayPart>({
    stopOrder: STOP_ORDER,
    open: (opened) =>
      openGateway(
        { ...parts, config, stateDir, explicitCredential: options.explicitCredential },
        opened,
      ),
    beforeStop: (reason) => services.events.emit({ type: 'gateway.stopping', reason }),
    afterStop: (reason) => {
      log.info({ reason }, 'gateway stopped');
      log.flush?.();
    },
    onCloseError: (part, error) => log.error({ part, err: error }, 'closing a gateway part failed'),
  });
  return {
    config,
    stateDir,
    services,
    get addresses() {
      return state.listener?.addresses ?? [];
    },
    get url() {
      const first = state.listener?.addresses[0];
      if (!first) throw new Error('gateway is not started');
      return first.url;
    },
    get port() {
      return state.listener?.addresses[0]?.port ?? config.gateway.port;
    },
    get tokenPath() {
      return state.credential.current?.tokenPath;
    },
    get tlsFingerprint() {
      return state.certificate?.fingerprint;
    },
    start: () => lifecycle.start(),
    stop: (reason = 'gateway shutting down') => lifecycle.stop(reason),
  };
}

function buildLogger(config: LoopgateConfig, stateDir: string, options: CreateGatewayOptions) {
  const file = config.logging.file ?? join(stateDir, 'logs', 'gateway.log');
  const ring = new LogRing();
  const log =
    options.logger ??
    createLogger({ level: config.logging.level, file, stderr: config.logging.stderr, ring });
  return { log, logs: { ring, file: options.logger ? undefined : file } };
}

/** Every service, constructed but not open: `start()` opens them (see gateway-start.ts). */
function buildServices(config: LoopgateConfig, stateDir: string, options: CreateGatewayOptions) {
  const { log, logs } = buildLogger(config, stateDir, options);
  const startedAt = Date.now();
  const events = new EventBus({
    replayBufferSize: config.gateway.events.replayBufferSize,
    logPath: join(stateDir, 'events.jsonl'),
    log,
  });
  const nodes = new NodeService({ config, stateDir, events, log });
  const sessions = new SessionStore({ stateDir, events, log });
  const tools = nodeServiceInvoker(nodes);
  const agent = new AgentRuntime({ config, sessions, tools, events, log });
  const channels = new ChannelManager({ config, stateDir, events, log, sessions, agent });
  const connections = new ConnectionRegistry();
  const operatorTokens = new OperatorTokens({
    path: join(stateDir, OPERATOR_TOKENS_FILE_NAME),
    connections: { all: () => [...connections.all()] },
    events,
  });
  const state: StartedState = {
    credential: { current: undefined },
    certificate: undefined,
    listener: undefined,
    admissionPolicy: undefined,
  };
  const loopDelay = new EventLoopDelay();
  const tailscale = new TailscaleWhois();
  const limiter = new FailedAttemptLimiter(config.gateway.auth.rateLimit);
  const services: GatewayServices = {
    ...{ config, stateDir, log, logs, events, startedAt, connections },
    ...{ nodes, sessions, agent, channels, operatorTokens, dispatch: dispatchByName },
    ...gatewayStatus({
      ...{ config, startedAt, connections, nodes, agent, channels, events, loopDelay, tailscale },
      started: {
        addresses: () => state.listener?.addresses ?? [],
        credential: () => state.credential.current,
        tlsFingerprint: () => state.certificate?.fingerprint,
      },
    }),
    rotateToken: () =>
      rotateGatewayToken({ stateDir, credential: state.credential, connections, events }),
  };
  const authenticator = new ConnectionAuthenticator({
    allowTailscale: config.gateway.auth.allowTailscale,
    limiter,
    gatewayCredential: () => state.credential.current,
    operatorTokens,
    verifyNode: (proof) => nodes.authenticate(proof),
    tailscale,
    log,
  });
  const pairingQuota = new PairingQuota(config.gateway.limits);
  const tls = () => state.certificate !== undefined;
  const openclaw = new OpenClawEndpoint({
    settings: config.gateway.openclaw,
    limits: config.gateway.limits,
    services,
    checkOperator: (params, source) => authenticator.checkOperator(params, source),
    checkCredential: (source, verify, failure) =>
      authenticator.checkCredential(source, verify, failure),
    pairingQuota,
    opened: (info) => acceptor.joined(info),
    closed: (info, code) => acceptor.left(info, code),
    tls,
  });
  const acceptor = new ConnectionAcceptor({
    ...{ config, registry: connections, authenticator, limiter, nodes, events, log, services },
    ...{ pairingQuota, tls, endpoints: [openclaw] },
    policy: () => state.admissionPolicy!,
  });
  return { log, services, operatorTokens, loopDelay, acceptor, state };
}
