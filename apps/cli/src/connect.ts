import {
  createGatewayClient,
  describeTunnelState,
  type GatewayClient,
  resolveGatewayTarget,
  startGatewayTunnel,
  type TargetSource,
  type Tunnel,
  type TunnelFailure,
} from '@loopgate/client';
import { GatewayError, type SshTunnelConfig } from '@loopgate/protocol';
import type { Command } from 'commander';
import { beforeConnecting } from './exit-codes.js';

export type ClientFlags = {
  url?: string;
  token?: string;
  password?: string;
  ssh?: string;
  context?: string;
  tlsFingerprint?: string[];
  insecurePlaintext?: boolean;
  json?: boolean;
};

/** The flags every command that talks to a gateway accepts. */
export function addClientOptions(command: Command): Command {
  return command
    .option(
      '--url <url>',
      'gateway URL (default: the local gateway, or gateway.remote.url in remote mode)',
    )
    .option(
      '--token <token>',
      'gateway token; "-" reads it from stdin (default: LOOPGATE_GATEWAY_TOKEN or the local token file)',
    )
    .option('--token-file <path>', 'read the gateway token from this file (keeps it out of ps)')
    .option(
      '--password <password>',
      'gateway password; "-" reads it from stdin (or LOOPGATE_GATEWAY_PASSWORD)',
    )
    .option(
      '--password-file <path>',
      'read the gateway password from this file (keeps it out of ps)',
    )
    .option('--ssh <user@host>', 'reach the gateway through a supervised SSH tunnel')
    .option(
      '--context <name>',
      'a named gateway from the config (contexts; default LOOPGATE_CONTEXT or currentContext)',
    )
    .option(
      '--tls-fingerprint <sha256>',
      'pin the gateway certificate (repeatable for rotation)',
      collect,
      undefined,
    )
    .option('--insecure-plaintext', 'allow plain ws:// to a non-loopback host')
    .option('--json', 'print the result alone as JSON on stdout');
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

const ONE_SHOT_HANDSHAKE_MS = 5_000;

/** Where a client command goes and with what, before any socket opens. */
export type ClientTarget = {
  url: string;
  token: string | undefined;
  password: string | undefined;
  /** The pin for `url`: --tls-fingerprint, or the configured one when `url` is the configured remote. */
  tlsFingerprint: string | string[] | undefined;
  ssh: (Partial<SshTunnelConfig> & { target: string }) | undefined;
  /** Which credential and where it came from, for diagnostics; never its value. */
  credentialSource: string;
  /** The named context in use, if any. */
  context: string | undefined;
};

const SOURCE_NAMES: Record<TargetSource, string> = {
  option: 'the --token/--password flag',
  env: 'the LOOPGATE_GATEWAY_TOKEN/PASSWORD variable',
  config: 'the config file',
  context: "the context's tokenFile/tokenEnv",
  'state-file': 'the token file in the state dir',
  default: 'the default',
};

/**
 * The target every client command uses: flags > environment > config (see
 * resolveGatewayTarget). A bad config or flag is a usage error (exit 2).
 */
export function resolveClientTarget(flags: ClientFlags): ClientTarget {
  const target = beforeConnecting(() => resolveGatewayTarget(flags));
  // --ssh names the host; port, key and ssh config still come from gateway.remote.ssh when set.
  const ssh = flags.ssh ? { ...target.ssh, target: flags.ssh } : flags.url ? undefined : target.ssh;
  // gateway.remote.tlsFingerprint pins gateway.remote.url; an explicit --url (or a tunnel's local end) is another endpoint.
  const configuredPin =
    (target.source.url === 'config' || target.source.url === 'context') && !ssh
      ? target.tlsFingerprint
      : undefined;
  const kind = target.token ? 'token' : target.password ? 'password' : undefined;
  const source = target.token ? target.source.token : target.source.password;
  return {
    url: target.url,
    token: target.token,
    password: target.password,
    tlsFingerprint: flags.tlsFingerprint ?? configuredPin,
    ssh,
    credentialSource: kind && source ? `${kind} from ${SOURCE_NAMES[source]}` : 'none',
    context: target.context,
  };
}

/** How the CLI reached the gateway, which only the client side knows. */
export type ClientRoute = {
  /** Through a supervised SSH tunnel (`--ssh` or gateway.remote.ssh). */
  tunnel: boolean;
  /** Over TLS with the certificate pinned by fingerprint. */
  tlsPinned: boolean;
};

/** The longest a one-shot command waits for its ssh tunnel before it ends with the last reason. */
const ONE_SHOT_TUNNEL_MS = 15_000;

/**
 * A supervised tunnel for one command: each failed attempt and the next
 * delay go to stderr while it waits, and after ONE_SHOT_TUNNEL_MS it gives
 * up with the last classified reason (TUNNEL_FAILED, exit 3) instead of
 * retrying for a minute in silence.
 */
async function openOneShotTunnel(
  ssh: Partial<SshTunnelConfig> & { target: string },
  credentials: { token?: string | undefined; password?: string | undefined },
): Promise<Tunnel> {
  const tunnel = startGatewayTunnel(ssh, credentials, { connectTimeoutSec: 5 });
  let last: TunnelFailure | undefined;
  const off = tunnel.onState((state) => {
    if (state.status !== 'retrying') return;
    last = state.reason;
    process.stderr.write(`loopgate: ssh tunnel to ${ssh.target}: ${describeTunnelState(state)}\n`);
  });
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const why = last ? `: ${last.message}` : '';
      const seconds = ONE_SHOT_TUNNEL_MS / 1000;
      reject(
        new GatewayError(
          'TUNNEL_FAILED',
          `ssh tunnel to ${ssh.target} not up after ${seconds} s${why}`,
        ),
      );
    }, ONE_SHOT_TUNNEL_MS);
  });
  try {
    await Promise.race([tunnel.ready(), deadline]);
    return tunnel;
  } catch (error) {
    await tunnel.close();
    throw error;
  } finally {
    off();
    clearTimeout(timer);
  }
}

/**
 * Connects for one command and always closes (tunnel included), so a
 * one-shot command never hangs on an open socket or leaves `ssh` behind.
 * One-shot commands fail fast (no retry loop). `--ssh`, or
 * `gateway.remote.ssh` in remote mode, brings up a supervised tunnel first.
 */
export async function withClient<T>(
  flags: ClientFlags,
  run: (client: GatewayClient, route: ClientRoute) => Promise<T>,
): Promise<T> {
  const target = resolveClientTarget(flags);
  const credentials = { token: target.token, password: target.password };
  let tunnel: Tunnel | undefined;
  if (target.ssh) tunnel = await openOneShotTunnel(target.ssh, credentials);
  let client: GatewayClient | undefined;
  const url = tunnel?.url ?? target.url;
  try {
    client = beforeConnecting(() =>
      createGatewayClient({
        url,
        ...credentials,
        tlsFingerprint: target.tlsFingerprint,
        insecurePlaintext: flags.insecurePlaintext ?? false,
        retry: false,
        // a gateway answers the upgrade in milliseconds, even through a tunnel; don't sit for 10 s on something else
        handshakeTimeoutMs: ONE_SHOT_HANDSHAKE_MS,
        clientName: 'loopgate-cli',
      }),
    );
    return await run(client, {
      tunnel: tunnel !== undefined,
      tlsPinned: url.startsWith('wss:') && (target.tlsFingerprint?.length ?? 0) > 0,
    });
  } finally {
    await client?.close();
    await tunnel?.close();
  }
}
