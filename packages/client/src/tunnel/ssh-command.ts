import { GatewayError } from '@loopgate/protocol';

/**
 * The ssh command line for a local forward. Pure, so what is (and is not)
 * passed can be asserted: in particular StrictHostKeyChecking is never set —
 * the user's ssh config decides, and BatchMode turns "ask" into a refusal.
 */

export type SshCommandOptions = {
  /** `user@host` or a Host alias from the ssh config. */
  target: string;
  /** sshd port on the remote host (`-p`); default from the ssh config. */
  sshPort?: number | undefined;
  identityFile?: string | undefined;
  localPort: number;
  remotePort: number;
  /** An ssh config file (`-F`) used instead of ~/.ssh/config. */
  configFile?: string | undefined;
  /** Extra `-o Key=Value` options (e.g. UserKnownHostsFile for tests). */
  sshOptions?: Readonly<Record<string, string>> | undefined;
  serverAliveIntervalSec: number;
  serverAliveCountMax: number;
  connectTimeoutSec: number;
};

/** Options callers may not override: they are what makes supervision work, or what keeps the user safe. */
const RESERVED = new Set([
  'exitonforwardfailure',
  'batchmode',
  'serveraliveinterval',
  'serveralivecountmax',
  'connecttimeout',
]);
const UNSAFE = new Map([
  ['stricthostkeychecking', /^(no|off|false)$/i],
  ['permitlocalcommand', /^(yes|true)$/i],
]);

export function sshTunnelArgs(options: SshCommandOptions): string[] {
  const target = options.target.trim();
  // A target starting with "-" would be read as an option (e.g. -oProxyCommand=...).
  if (!target || target.startsWith('-') || /\s/.test(target)) {
    throw new GatewayError(
      'BAD_REQUEST',
      'ssh target must look like user@host or a host alias (no spaces, not starting with "-")',
    );
  }
  const args: string[] = [];
  if (options.configFile) args.push('-F', options.configFile);
  args.push(
    '-N',
    // Explicit 127.0.0.1 on both ends: without it -L binds only IPv4 loopback
    // anyway, and a squatter on [::1] would go unnoticed; dialling "localhost"
    // on the server could reach a different service over IPv6.
    '-L',
    `127.0.0.1:${options.localPort}:127.0.0.1:${options.remotePort}`,
    '-o',
    'ExitOnForwardFailure=yes',
    '-o',
    'BatchMode=yes',
    '-o',
    `ServerAliveInterval=${options.serverAliveIntervalSec}`,
    '-o',
    `ServerAliveCountMax=${options.serverAliveCountMax}`,
    '-o',
    `ConnectTimeout=${options.connectTimeoutSec}`,
    // A LocalCommand from the user's config would run on every reconnect.
    '-o',
    'PermitLocalCommand=no',
  );
  for (const [key, value] of Object.entries(options.sshOptions ?? {})) {
    const lower = key.toLowerCase();
    if (!/^[A-Za-z]+$/.test(key) || /[\r\n]/.test(value)) {
      throw new GatewayError(
        'BAD_REQUEST',
        `ssh option "${key.slice(0, 40)}" is not a valid ssh_config keyword`,
      );
    }
    if (RESERVED.has(lower)) {
      throw new GatewayError(
        'BAD_REQUEST',
        `ssh option ${key} is set by the tunnel supervisor and cannot be overridden`,
      );
    }
    if (UNSAFE.get(lower)?.test(value)) {
      throw new GatewayError(
        'BAD_REQUEST',
        `ssh option ${key}=${value} would weaken the tunnel's security and is refused`,
      );
    }
    args.push('-o', `${key}=${value}`);
  }
  if (options.identityFile) args.push('-i', options.identityFile, '-o', 'IdentitiesOnly=yes');
  if (options.sshPort !== undefined) args.push('-p', String(options.sshPort));
  args.push(target);
  return args;
}
