import {
  describeTunnelState,
  formatRetryLine,
  gatewayAnswers,
  resolveGatewayTarget,
  startTunnel,
  type TunnelState,
} from '@loopgate/client';
import { GatewayError } from '@loopgate/protocol';
import type { Command } from 'commander';
import { addClientOptions, type ClientFlags, withClient } from '../connect.js';
import { beforeConnecting, UsageError } from '../exit-codes.js';
import { note, printResult } from '../output.js';
import { registerProbeCommand } from './probe.js';

/**
 * Remote access: `loopgate tunnel`, `loopgate gateway probe`,
 * `loopgate gateway tls fingerprint`, `loopgate gateway auth rotate-token`.
 * Registered after the gateway commands (it adds to the `gateway` command).
 */
export function registerRemoteCommands(program: Command): void {
  registerTunnelCommand(program);
  const gateway =
    program.commands.find((c) => c.name() === 'gateway') ?? program.command('gateway');
  registerProbeCommand(gateway);
  registerTlsCommands(gateway);
  registerAuthCommands(gateway);
}

type TunnelFlags = {
  ssh?: string;
  sshPort?: string;
  identityFile?: string;
  sshConfig?: string;
  localPort?: string;
  remotePort?: string;
  allowPortFallback?: boolean;
  token?: string;
  json?: boolean;
};

function registerTunnelCommand(program: Command): void {
  program
    .command('tunnel')
    .description(
      'run a supervised SSH tunnel to a remote gateway in the foreground, printing its state changes',
    )
    .option('--ssh <user@host>', 'ssh target (default: gateway.remote.ssh.target in remote mode)')
    .option('--ssh-port <port>', 'sshd port on the remote host')
    .option('--identity-file <path>', 'ssh private key to use')
    .option('--ssh-config <path>', 'ssh config file to use instead of ~/.ssh/config')
    .option('--local-port <port>', 'local end of the forward (default: the remote port)')
    .option('--remote-port <port>', 'gateway port on the remote host (default 18789)')
    .option(
      '--allow-port-fallback',
      'use a free local port when the chosen one is taken by another program',
    )
    .option(
      '--token <token>',
      'token for the readiness health call; "-" reads stdin (default: LOOPGATE_GATEWAY_TOKEN or the config)',
    )
    .option('--token-file <path>', 'read that token from this file (keeps it out of ps)')
    .option('--json', 'print each state change as one JSON line on stdout')
    .action(async (flags: TunnelFlags) => {
      const target = beforeConnecting(() => resolveGatewayTarget({ token: flags.token }));
      const configured = target.ssh;
      const sshTarget = flags.ssh ?? configured?.target;
      if (!sshTarget)
        throw new UsageError(
          'no ssh target: give --ssh user@host or set gateway.remote.ssh.target',
        );
      const sshPort = portFlag(flags.sshPort, '--ssh-port') ?? configured?.port;
      const tunnel = startTunnel({
        target: sshTarget,
        port: sshPort,
        identityFile: flags.identityFile ?? configured?.identityFile,
        configFile: flags.sshConfig,
        localPort: portFlag(flags.localPort, '--local-port') ?? configured?.localPort,
        remotePort: portFlag(flags.remotePort, '--remote-port') ?? configured?.remotePort,
        allowPortFallback: flags.allowPortFallback ?? configured?.allowPortFallback,
        readiness: (port) => gatewayAnswers(`ws://127.0.0.1:${port}`, { token: target.token }),
      });
      const print = (state: TunnelState) => {
        if (flags.json) {
          process.stdout.write(`${JSON.stringify({ at: new Date().toISOString(), ...state })}\n`);
          return;
        }
        const time = new Date().toLocaleTimeString();
        // a retry says what it dials, why it failed and when it tries again, like every retrying client
        const line =
          state.status === 'retrying'
            ? formatRetryLine({
                target: `ssh://${sshTarget}${sshPort ? `:${sshPort}` : ''}`,
                reason: state.reason.message,
                retryInMs: state.delayMs,
                attempt: state.attempt,
              })
            : `tunnel ${describeTunnelState(state)}`;
        process.stdout.write(`${time} ${line}\n`);
        if (state.status === 'up') {
          process.stdout.write(
            `${time} gateway reachable at ${tunnel.url} (e.g. loopgate health --url ${tunnel.url})\n`,
          );
        }
      };
      print(tunnel.state);
      tunnel.onState(print);
      if (!flags.json) note('press Ctrl+C to stop the tunnel');
      await new Promise<void>((resolve, reject) => {
        const stop = () => void tunnel.close().then(resolve, reject);
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
        tunnel.onState((state) => {
          if (state.status !== 'failed') return;
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          reject(new GatewayError('TUNNEL_FAILED', `ssh tunnel failed: ${state.reason.message}`));
        });
      });
    });
}

type TlsFlags = { config?: string; json?: boolean };

function registerTlsCommands(gateway: Command): void {
  const tls = gateway.command('tls').description("the gateway's TLS certificate");
  tls
    .command('fingerprint')
    .description(
      'print the SHA-256 fingerprint of the certificate this gateway serves (works with the gateway stopped)',
    )
    .option('--config <path>', 'config file (default: LOOPGATE_CONFIG or ~/.loopgate/config.json5)')
    .option('--json', 'print the result alone as JSON on stdout')
    .action(async (flags: TlsFlags) => {
      const { defaultStateDir, loadConfig, readGatewayFingerprint } = await import(
        '@loopgate/gateway'
      );
      const { config } = await loadConfig(flags.config ? { configPath: flags.config } : {});
      const found = await readGatewayFingerprint({
        stateDir: defaultStateDir(),
        certPath: config.gateway.tls.certPath,
      });
      if (!found) {
        throw new UsageError(
          'no certificate yet: set gateway.tls.enabled to true and start the gateway once; it generates one and prints its fingerprint',
        );
      }
      const result = {
        fingerprint: found.fingerprint,
        selfSigned: found.selfSigned,
        tlsEnabled: config.gateway.tls.enabled,
      };
      printResult(result, {
        json: flags.json,
        human: (r) =>
          `${r.fingerprint}${r.tlsEnabled ? '' : '\n(gateway.tls.enabled is false: the gateway does not serve this certificate now)'}`,
      });
    });
}

function registerAuthCommands(gateway: Command): void {
  const auth =
    gateway.commands.find((c) => c.name() === 'auth') ??
    gateway.command('auth').description('gateway credentials');
  addClientOptions(
    auth
      .command('rotate-token')
      .description(
        'replace the generated gateway token; every operator using the old one is disconnected',
      ),
  ).action(async (flags: ClientFlags) => {
    const result = await withClient(flags, (client) => client.auth.rotateToken.mutate());
    printResult(result, {
      json: flags.json,
      human: (r) =>
        `token rotated: the new token is in ${r.tokenPath} (mode 0600); operators on the old token were disconnected`,
    });
  });
}

function portFlag(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const port = Number(value);
  if (!/^\d+$/.test(value) || port > 65535)
    throw new UsageError(`${name}: expected a port 0-65535, got ${JSON.stringify(value)}`);
  return port;
}
