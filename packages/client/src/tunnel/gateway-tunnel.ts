import { DEFAULT_PORT, isGatewayError, type SshTunnelConfig } from '@loopgate/protocol';
import { createGatewayClient } from '../client.js';
import {
  openTunnel,
  startTunnel,
  type Tunnel,
  type TunnelOptions,
  type TunnelStateListener,
} from './supervisor.js';

type Credentials = { token?: string | undefined; password?: string | undefined };

/**
 * Resolves once a Loopgate gateway answers on `url`. Through `ssh -L` a TCP
 * connect always succeeds locally, so only an answer from the far end proves
 * the forward works; a refused credential still counts as an answer.
 */
export async function gatewayAnswers(url: string, credentials: Credentials = {}): Promise<void> {
  const client = createGatewayClient({
    url,
    ...credentials,
    retry: false,
    clientName: 'loopgate-tunnel',
  });
  try {
    await client.health.query();
  } catch (error) {
    if (!isGatewayError(error, 'UNAUTHORIZED') && !isGatewayError(error, 'RATE_LIMITED'))
      throw error;
  } finally {
    await client.close();
  }
}

/** Tunnel options for a gateway behind `ssh`: its port by default, ready when the gateway answers. */
export function gatewayTunnelOptions(
  ssh: Partial<SshTunnelConfig> & { target: string },
  credentials: Credentials = {},
  extra: Partial<TunnelOptions> = {},
): TunnelOptions {
  return {
    ...ssh,
    remotePort: ssh.remotePort ?? DEFAULT_PORT,
    readiness: (port) => gatewayAnswers(`ws://127.0.0.1:${port}`, credentials),
    ...extra,
  };
}

/** A supervised tunnel to a gateway; `ready()` resolves when the gateway answers through it. */
export function startGatewayTunnel(
  ssh: Partial<SshTunnelConfig> & { target: string },
  credentials: Credentials = {},
  extra: Partial<TunnelOptions> = {},
): Tunnel {
  return startTunnel(gatewayTunnelOptions(ssh, credentials, extra));
}

/** Like `startGatewayTunnel`, but waits until it is up (TUNNEL_FAILED otherwise). */
export function openGatewayTunnel(
  ssh: Partial<SshTunnelConfig> & { target: string },
  credentials: Credentials = {},
  onState?: TunnelStateListener,
): Promise<Tunnel> {
  return openTunnel(gatewayTunnelOptions(ssh, credentials), onState);
}
