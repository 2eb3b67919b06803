/**
 * Why an ssh tunnel attempt ended, classified from ssh's exit status and
 * stderr (OpenSSH's messages are stable across versions and are all we
 * get). Fatal failures need the operator — retrying a changed host key or a
 * refused key only hammers the server — so they are never retried.
 */

export type TunnelFailureKind =
  /** The server's host key is not in known_hosts (and BatchMode forbids asking). */
  | 'host-key-unknown'
  /** known_hosts records a different key for this host: possible man-in-the-middle. */
  | 'host-key-changed'
  /** The server refused every key we offered. */
  | 'auth-denied'
  /** The local end of the forward could not be bound (port taken after our check). */
  | 'forward-failed'
  /** The local port is held by a program that is not a loopgate tunnel. */
  | 'port-conflict'
  /** DNS, routing or connect timeout: the host could not be reached. */
  | 'unreachable'
  /** The host answered but nothing listens on the ssh port (sshd down or restarting). */
  | 'refused'
  /** Keepalives went unanswered (ServerAliveInterval × ServerAliveCountMax): frozen server or dead link. */
  | 'server-unresponsive'
  /** An established connection dropped (server restart, network change). */
  | 'connection-lost'
  /** The forward was up but the gateway behind it did not answer within the readiness timeout. */
  | 'not-ready'
  /** ssh rejected its configuration or arguments. */
  | 'ssh-config'
  /** No ssh binary. */
  | 'ssh-missing'
  /** ssh ended for a reason not recognised above. */
  | 'exited';

export type TunnelFailure = {
  kind: TunnelFailureKind;
  fatal: boolean;
  /** One operator-facing sentence: what happened and what to do. No paths, no secrets. */
  message: string;
};

const FATAL: ReadonlySet<TunnelFailureKind> = new Set([
  'host-key-unknown',
  'host-key-changed',
  'auth-denied',
  'forward-failed',
  'port-conflict',
  'ssh-config',
  'ssh-missing',
]);

export function tunnelFailure(kind: TunnelFailureKind, message: string): TunnelFailure {
  return { kind, fatal: FATAL.has(kind), message };
}

export type SshExit = {
  /** Exit code, or null when ssh died of a signal. */
  code: number | null;
  signal: NodeJS.Signals | null;
  /** ssh's stderr (the tail is enough). */
  stderr: string;
  /** `user@host` as configured, for the messages. */
  target: string;
  /** The sshd port when one was configured, so the advice names it too. */
  port?: number | undefined;
  localPort: number;
};

/** Classifies one ssh exit. Pure: exit status and stderr in, failure out. */
export function classifySshExit(exit: SshExit): TunnelFailure {
  const { stderr, target } = exit;
  const sshCommand = exit.port ? `ssh -p ${exit.port} ${target}` : `ssh ${target}`;
  const where = exit.port ? `${target} (port ${exit.port})` : target;
  // "channel N: open failed: connect failed: Connection refused" lines are about
  // connections made THROUGH the forward, not about ssh's own connection: ignore them.
  const lines = stderr
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l && !/^channel \d+: open failed/.test(l));
  const text = lines.join('\n');
  const has = (re: RegExp) => re.test(text);

  if (
    exit.code === 127 ||
    has(/ssh: (not found|command not found)|No such file or directory.*ssh$/m)
  ) {
    return tunnelFailure(
      'ssh-missing',
      'the ssh client is not installed or not on PATH: install OpenSSH',
    );
  }
  if (has(/REMOTE HOST IDENTIFICATION HAS CHANGED|Host key for .* has changed/)) {
    const presented = /(SHA256:[A-Za-z0-9+/=]+)/.exec(text)?.[1];
    return tunnelFailure(
      'host-key-changed',
      `the host key of ${target} has CHANGED${presented ? ` (it now presents ${presented})` : ''}: this may be a man-in-the-middle; verify the new key with the server's administrator before updating known_hosts`,
    );
  }
  if (has(/Host key verification failed|No [A-Z0-9-]+ host key is known for/)) {
    return tunnelFailure(
      'host-key-unknown',
      `the host key of ${where} is not in known_hosts: connect once with "${sshCommand}" and check its fingerprint, then start the tunnel again`,
    );
  }
  if (has(/Permission denied \(|Too many authentication failures|no mutual signature algorithm/)) {
    return tunnelFailure(
      'auth-denied',
      `${target} refused our ssh key: check the identity file (gateway.remote.ssh.identityFile) and that its public key is in the server's authorized_keys`,
    );
  }
  if (
    has(
      /Could not request local forwarding|cannot listen to port|bind \[?[\d.:]+\]?:\d+: Address already in use/,
    )
  ) {
    return tunnelFailure(
      'forward-failed',
      `ssh could not listen on 127.0.0.1:${exit.localPort} (taken by another program): choose another local port or allow a free one (gateway.remote.ssh.allowPortFallback)`,
    );
  }
  if (
    has(
      /Bad configuration option|bad configuration options|Bad port|no argument after keyword|Unsupported option|Can't open user config file|command-line line \d+:|Invalid (multiplex|argument)/i,
    )
  ) {
    const line = lines.find((l) =>
      /configuration|Bad port|keyword|Unsupported|config file|command-line|Invalid/i.test(l),
    );
    return tunnelFailure(
      'ssh-config',
      `ssh rejected its configuration${line ? ` (${stripPaths(line)})` : ''}: fix the ssh config or options`,
    );
  }
  if (has(/Timeout, server .* not responding/)) {
    return tunnelFailure(
      'server-unresponsive',
      `${target} stopped answering keepalives (frozen server or dead network link)`,
    );
  }
  if (has(/ssh: connect to host .*: Connection refused/)) {
    return tunnelFailure('refused', `${where} refused the ssh connection: is sshd running?`);
  }
  if (
    has(
      /Could not resolve hostname|ssh: connect to host .*: (No route to host|Network is unreachable|Connection timed out|Operation timed out|Host is down)|Connection timed out during banner exchange|banner exchange: .*timed out/,
    )
  ) {
    return tunnelFailure(
      'unreachable',
      `${target} is unreachable (name resolution, routing or connect timeout)`,
    );
  }
  if (
    has(
      /closed by remote host|Connection closed by|Connection reset by|Broken pipe|kex_exchange_identification|Connection to .* closed/,
    )
  ) {
    return tunnelFailure('connection-lost', `the ssh connection to ${target} was closed`);
  }
  if (exit.signal !== null || (exit.code !== null && exit.code > 128 && exit.code < 160)) {
    return tunnelFailure('connection-lost', `ssh to ${target} was ended by a signal`);
  }
  const last = lines.at(-1);
  return tunnelFailure(
    'exited',
    `ssh to ${target} exited with code ${exit.code ?? 'none'}${last ? `: ${stripPaths(last)}` : ''}`,
  );
}

/** ssh mentions config and key file paths; errors must not carry them. */
function stripPaths(line: string): string {
  return line.replace(/(?:~|\/)[^\s:"']*\/[^\s:"']*/g, '<path>').slice(0, 200);
}
