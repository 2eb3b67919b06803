import { networkInterfaces } from 'node:os';
import {
  IDENTITY_HEADERS,
  LOOPGATE_VERSION,
  type LoopgateConfig,
  procedureSetHash,
} from '@loopgate/protocol';
import { type GatewayCredential, type OperatorTokens, resolveCredential } from './auth/index.js';
import type { ConnectionAcceptor } from './connections/index.js';
import type { MarkOpened } from './lifecycle/index.js';
import type { Logger } from './log/index.js';
import { servedProcedures } from './router/app-router.js';
import type { GatewayServices } from './services.js';
import { acquireStateLock, type StateLock } from './state-lock/index.js';
import type { EventLoopDelay } from './status/index.js';
import { removeStaleTempFiles } from './store/index.js';
import { ensureGatewayCertificate, type GatewayCertificate } from './tls/index.js';
import {
  type AdmissionPolicy,
  admissionPolicyFrom,
  assertBindAllowed,
  Listener,
  resolveBindHosts,
} from './transport/index.js';

/** What `start()` opens, in the order `stop()` (and a failed start) closes it. */
export const STOP_ORDER = [
  'health-tick',
  'listener',
  'channels',
  'agent',
  'sessions',
  'nodes',
  'operator-tokens',
  'event-loop-delay',
  'events',
  'state-lock',
] as const;
export type GatewayPart = (typeof STOP_ORDER)[number];

/** What exists only between `start()` and `stop()`, read by status and the Gateway getters. */
export type StartedState = {
  credential: { current: GatewayCredential | undefined };
  certificate: GatewayCertificate | undefined;
  listener: Listener | undefined;
  admissionPolicy: AdmissionPolicy | undefined;
};

export type StartInputs = {
  config: LoopgateConfig;
  stateDir: string;
  log: Logger;
  services: GatewayServices;
  operatorTokens: OperatorTokens;
  loopDelay: EventLoopDelay;
  acceptor: ConnectionAcceptor;
  state: StartedState;
  explicitCredential: Parameters<typeof resolveCredential>[2];
};

/**
 * Everything `start()` does, in order. Each part is marked opened as soon as
 * it is, so a failure further on closes exactly what is open (see
 * lifecycle/lifecycle.ts) and leaves the state dir unlocked for a retry.
 */
export async function openGateway(
  inputs: StartInputs,
  opened: MarkOpened<GatewayPart>,
): Promise<void> {
  const { config, stateDir, services, state } = inputs;
  // Before any state is read or written: a second gateway on this dir must change no byte.
  const lock = await acquireStateLock(stateDir, { version: LOOPGATE_VERSION });
  opened('state-lock', () => lock.release());
  reportReplacedLock(lock, inputs.log);
  state.credential.current = await resolveCredential(config, stateDir, inputs.explicitCredential);
  const hosts = resolveBindHosts(config.gateway.bind, {
    customBindHost: config.gateway.customBindHost,
    interfaces: networkInterfaces(),
  });
  // Exposure beyond loopback is always a conscious act: the generated local token does not count.
  assertBindAllowed(config.gateway.bind, hosts, state.credential.current.source !== 'generated');
  if (config.gateway.tls.enabled) {
    const { certPath, keyPath } = config.gateway.tls;
    state.certificate = await ensureGatewayCertificate({ stateDir, hosts, certPath, keyPath });
  }
  await openServices(inputs, opened);
  await listen(inputs, hosts, lock, opened);
  const healthTimer = setInterval(
    () => services.events.emit({ type: 'health.tick', health: services.health() }),
    config.gateway.events.healthTickMs,
  );
  healthTimer.unref();
  opened('health-tick', () => clearInterval(healthTimer));
  await services.channels.open();
  opened('channels', () => services.channels.close());
  services.events.emit({ type: 'gateway.started', version: LOOPGATE_VERSION });
  // Leftovers of a crash mid-write (temp file written, never renamed). Off the start-up
  // path: nothing reads them, and a big sessions folder should not delay the first socket.
  void removeStaleTempFiles(stateDir).then((removed) => {
    if (removed.length > 0)
      inputs.log.info({ files: removed.length }, 'removed temp files left by an interrupted write');
  });
  inputs.log.info(
    {
      addresses: state.listener?.addresses.map((a) => a.url),
      auth: state.credential.current.mode,
      authSource: state.credential.current.source,
    },
    'gateway listening',
  );
}

function reportReplacedLock(lock: StateLock, log: Logger): void {
  if (!lock.replaced) return;
  const { holder, reason } = lock.replaced;
  log.warn(
    { stalePid: holder.pid, staleSince: new Date(holder.startedAt).toISOString(), reason },
    'took over the state-dir lock of a gateway that no longer runs',
  );
}

async function openServices(inputs: StartInputs, opened: MarkOpened<GatewayPart>): Promise<void> {
  const { events, nodes, sessions, agent } = inputs.services;
  await events.open();
  opened('events', () => events.close());
  await nodes.open();
  opened('nodes', () => nodes.close());
  await inputs.operatorTokens.open();
  opened('operator-tokens', () => inputs.operatorTokens.close());
  await sessions.open();
  opened('sessions', () => sessions.close());
  await agent.open();
  opened('agent', () => agent.close());
  inputs.loopDelay.enable();
  opened('event-loop-delay', () => inputs.loopDelay.disable());
}

async function listen(
  inputs: StartInputs,
  hosts: string[],
  lock: StateLock,
  opened: MarkOpened<GatewayPart>,
): Promise<void> {
  const { config, state, acceptor } = inputs;
  const { limits } = config.gateway;
  // Ready before the first socket can bind: an upgrade may arrive on the first host while
  // the others are still binding. A host that then fails to bind (::1 without IPv6) only
  // widens the accepted Host names by a loopback address.
  state.admissionPolicy = admissionPolicyFrom(config, hosts);
  const listener = new Listener({
    hosts,
    port: config.gateway.port,
    tls: state.certificate
      ? { cert: state.certificate.cert, key: state.certificate.key }
      : undefined,
    maxPayloadBytes: limits.maxPayloadBytes,
    maxConnectionsPerAddress: limits.maxConnectionsPerAddress,
    headersTimeoutMs: limits.headersTimeoutMs,
    pingIntervalMs: limits.pingIntervalMs,
    pongTimeoutMs: limits.pongTimeoutMs,
    identityHeaders: {
      [IDENTITY_HEADERS.version]: LOOPGATE_VERSION,
      [IDENTITY_HEADERS.procedures]: procedureSetHash(servedProcedures()),
    },
    upgradeHeaders: (request) => acceptor.upgradeHeaders(request),
    admit: (request) => acceptor.admit(request),
    onConnection: (socket, request, admission) => acceptor.accept(socket, request, admission),
    onHttpRequest: (req, res) => inputs.services.channels.handleHttpRequest(req, res),
  });
  // A listener that fails to bind has already closed the hosts it had bound.
  const bound = await listener.listen();
  state.listener = listener;
  opened('listener', (reason) => listener.close(reason));
  state.admissionPolicy = admissionPolicyFrom(
    config,
    bound.map((b) => b.host),
  );
  if (bound[0]) await lock.recordListening(bound[0].port, bound[0].url);
}
