import {
  type TunnelState as ClientTunnelState,
  createGatewayClient,
  parseFingerprints,
  probeCertificate,
  resolveGatewayTarget,
  startTunnel,
  type Tunnel,
} from '@loopgate/client';
import { LOOPGATE_VERSION } from '@loopgate/protocol';
import { createClientPort } from './client-port.js';
import type { ConnectTarget, PortFactory } from './controller/index.js';
import type {
  GatewayPort,
  Observable,
  SshSettings,
  TransportInfo,
  TunnelState,
} from './gateway-port.js';
import type { DashboardLog } from './log/dashboard-log.js';

/**
 * The real port factory: resolves the target the way every Loopgate client
 * does (flag > env > config > local default), brings up the SSH tunnel when
 * one is asked for, pins TLS, and reports tunnel and certificate state for
 * the Connection pane.
 */
export function gatewayPortFactory(base: {
  /** A config file named explicitly (`--config`); else the client finds the default one. */
  configPath: string | undefined;
  log: DashboardLog;
}): PortFactory {
  return (target: ConnectTarget): GatewayPort => {
    const resolved = resolveGatewayTarget({
      ...(target.url ? { url: target.url } : {}),
      ...(target.token ? { token: target.token } : {}),
      ...(target.password ? { password: target.password } : {}),
      ...(base.configPath ? { configPath: base.configPath } : {}),
      ...(target.context ? { context: target.context } : {}),
    });
    const fromConfig = resolved.source.url === 'config' || resolved.source.url === 'context';
    const ssh: SshSettings | undefined =
      target.ssh ?? (fromConfig || !target.url ? resolved.ssh : undefined);
    const pinSetting = target.tlsFingerprint ?? (fromConfig ? resolved.tlsFingerprint : undefined);
    const pins =
      pinSetting && (typeof pinSetting === 'string' || pinSetting.length > 0)
        ? parseFingerprints(pinSetting)
        : [];

    let tunnel: Tunnel | undefined;
    const openTunnel = (settings: SshSettings): Tunnel =>
      startTunnel({
        target: settings.target,
        port: settings.port,
        identityFile: settings.identityFile,
        localPort: settings.localPort,
        remotePort: settings.remotePort,
        configFile: target.sshConfigFile,
        secure: resolved.url.startsWith('wss:'),
      });
    if (ssh) tunnel = openTunnel(ssh);

    // a restarted tunnel forwards the same local port (no port fallback is asked for), so the URL holds
    const url = tunnel ? tunnel.url : resolved.url;
    const client = createGatewayClient({
      url,
      ...(resolved.token ? { token: resolved.token } : {}),
      ...(resolved.password ? { password: resolved.password } : {}),
      ...(pins.length > 0 ? { tlsFingerprint: pins } : {}),
      clientName: 'loopgate-dashboard',
      clientVersion: LOOPGATE_VERSION,
      // the dashboard lives as long as the operator wants: reconnect slowly enough to stay quiet
      reconnect: { baseMs: 250, capMs: 5_000 },
      keepAliveMs: 5_000,
    });

    const transport = transportObservable({
      url,
      pins,
      ssh,
      tunnelOf: () => tunnel,
      log: base.log,
    });
    client.connection.subscribe((state) => {
      if (state.state === 'open' || state.state === 'pin-mismatch') transport.probe();
    });
    let detachTunnel = tunnel ? tunnel.onState(() => transport.changed()) : undefined;

    return createClientPort(client, {
      transport,
      restartTunnel: async () => {
        if (!ssh || !tunnel) throw new Error('no SSH tunnel in use');
        detachTunnel?.();
        await tunnel.close();
        tunnel = openTunnel(ssh);
        detachTunnel = tunnel.onState(() => transport.changed());
        transport.changed();
      },
      close: async () => {
        detachTunnel?.();
        await tunnel?.close();
      },
    });
  };
}

function tunnelStateOf(state: ClientTunnelState): TunnelState | undefined {
  switch (state.status) {
    case 'starting':
      return { state: 'starting' };
    case 'up':
      return { state: 'up', localPort: state.localPort };
    case 'retrying':
      return { state: 'retrying', attempt: state.attempt, reason: state.reason.message };
    case 'failed':
      return { state: 'failed', reason: state.reason.message };
    case 'closed':
      return undefined;
  }
}

type TransportSource = Observable<TransportInfo> & {
  /** Something changed (tunnel state): recompute and tell listeners. */
  changed(): void;
  /** Looks at the server's certificate again (wss:// only), without sending any HTTP byte. */
  probe(): void;
};

function transportObservable(options: {
  url: string;
  pins: string[];
  ssh: SshSettings | undefined;
  tunnelOf: () => Tunnel | undefined;
  log: DashboardLog;
}): TransportSource {
  const tlsEnabled = options.url.startsWith('wss:');
  let presented: string | undefined;
  let probing = false;
  const listeners = new Set<(info: TransportInfo) => void>();
  const compute = (): TransportInfo => {
    const tunnel = options.tunnelOf();
    return {
      via: tunnel ? 'tunnel' : 'direct',
      tls: { enabled: tlsEnabled, presented, pinned: options.pins },
      tunnel: tunnel ? tunnelStateOf(tunnel.state) : undefined,
      ssh: options.ssh,
    };
  };
  let current = compute();
  const changed = () => {
    current = compute();
    for (const listener of listeners) listener(current);
  };
  const probe = () => {
    if (!tlsEnabled || probing) return;
    probing = true;
    const url = options.tunnelOf()?.url ?? options.url;
    probeCertificate(url, { timeoutMs: 5_000 })
      .then((result) => {
        presented = result.fingerprint;
        changed();
      })
      .catch((error: Error) =>
        options.log.debug('certificate probe failed', { error: error.message }),
      )
      .finally(() => {
        probing = false;
      });
  };
  probe();
  return {
    get: () => current,
    subscribe(listener) {
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
      };
    },
    changed,
    probe,
  };
}
