import {
  createGatewayClient,
  type GatewayClient,
  openGatewayTunnel,
  resolveGatewayTarget,
  type Tunnel,
} from '@loopgate/client';
import type { Command } from 'commander';
import { beforeConnecting } from './exit-codes.js';

export type ClientFlags = {
  url?: string;
  token?: string;
  password?: string;
  ssh?: string;
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

/**
 * Connects for one command and always closes (tunnel included), so a
 * one-shot command never hangs on an open socket or leaves `ssh` behind.
 * One-shot commands fail fast (no retry loop). `--ssh`, or
 * `gateway.remote.ssh` in remote mode, brings up a supervised tunnel first.
 */
export async function withClient<T>(
  flags: ClientFlags,
  run: (client: GatewayClient) => Promise<T>,
): Promise<T> {
  const target = beforeConnecting(() => resolveGatewayTarget(flags));
  // --ssh names the host; port, key and ssh config still come from gateway.remote.ssh when set.
  const ssh = flags.ssh ? { ...target.ssh, target: flags.ssh } : flags.url ? undefined : target.ssh;
  const credentials = { token: target.token, password: target.password };
  let tunnel: Tunnel | undefined;
  if (ssh) tunnel = await openGatewayTunnel(ssh, credentials);
  // gateway.remote.tlsFingerprint pins gateway.remote.url; an explicit --url (or the tunnel's local end) is another endpoint.
  const configuredPin =
    target.source.url === 'config' && !tunnel ? target.tlsFingerprint : undefined;
  let client: GatewayClient | undefined;
  try {
    client = beforeConnecting(() =>
      createGatewayClient({
        url: tunnel?.url ?? target.url,
        ...credentials,
        tlsFingerprint: flags.tlsFingerprint ?? configuredPin,
        insecurePlaintext: flags.insecurePlaintext ?? false,
        retry: false,
        clientName: 'loopgate-cli',
      }),
    );
    return await run(client);
  } finally {
    await client?.close();
    await tunnel?.close();
  }
}
