import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { accessSync, constants, readdirSync, readFileSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { type AddressInfo, connect, createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { RealPart } from './real-parts.js';

/**
 * A REAL OpenSSH server for tunnel tests: `/usr/sbin/sshd -D -e -f <config>`
 * on 127.0.0.1 with a free high port, throwaway host and client keys,
 * key-only auth and `AllowTcpForwarding local`. Nothing here touches the
 * user's ~/.ssh: clients use the generated `sshConfigPath` (via `ssh -F`),
 * which names the host alias, key and known_hosts file.
 */

const SSHD = '/usr/sbin/sshd';
const run = promisify(execFile);

/**
 * Whether a real sshd can be started here, and if not, why. Root is not
 * needed: an ordinary user's sshd serves key logins for that user.
 */
export function sshdAvailable(): RealPart {
  try {
    accessSync(SSHD, constants.X_OK);
  } catch {
    return {
      available: false,
      reason: `${SSHD} is not installed (run .ci/install-sshd.sh or apt-get install openssh-server)`,
    };
  }
  for (const tool of ['ssh', 'ssh-keygen']) {
    if (!onPath(tool))
      return { available: false, reason: `${tool} is not on PATH (install openssh-client)` };
  }
  return { available: true };
}

export type SshdHandle = {
  host: '127.0.0.1';
  port: number;
  user: string;
  /** Host alias defined in `sshConfigPath`: `ssh -F <sshConfigPath> <hostAlias>` logs in. */
  hostAlias: string;
  sshConfigPath: string;
  clientKeyPath: string;
  /** A key sshd does not accept. */
  wrongClientKeyPath: string;
  /** known_hosts with the real host key. */
  knownHostsPath: string;
  /** The sshd master's pid (changes on `restart`). */
  readonly pid: number;
  /**
   * Another client config for the same host with a different identity or
   * known_hosts contents: `'empty'` (host unknown) or `'changed'` (a
   * different key recorded for this host, as after a server reinstall).
   */
  variantConfig(options: {
    knownHosts?: 'correct' | 'empty' | 'changed';
    identity?: 'correct' | 'wrong';
  }): Promise<string>;
  /** SIGKILLs sshd and every connection it serves, as a crash or reboot would. */
  kill(): Promise<void>;
  /** Starts sshd again on the same port with the same keys. */
  restart(): Promise<void>;
  /** SIGSTOP / SIGCONT sshd and its connections: a frozen server that keeps its TCP connections open. */
  freeze(): void;
  thaw(): void;
  stop(): Promise<void>;
};

export async function startSshd(): Promise<SshdHandle> {
  const dir = await mkdtemp(join(tmpdir(), 'loopgate-sshd-'));
  await chmod(dir, 0o700);
  // sshd's privilege-separation directory, missing on a fresh container. Only
  // a root sshd chroots into it; an ordinary user's sshd logs in only that user.
  if (process.getuid?.() === 0) await mkdir('/run/sshd', { recursive: true, mode: 0o755 });
  const user = userInfo().username;
  const hostKey = join(dir, 'host_ed25519');
  const otherHostKey = join(dir, 'other_host_ed25519');
  const clientKeyPath = join(dir, 'client_ed25519');
  const wrongClientKeyPath = join(dir, 'wrong_client_ed25519');
  await Promise.all(
    [hostKey, otherHostKey, clientKeyPath, wrongClientKeyPath].map((path) =>
      run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'loopgate-test', '-f', path]),
    ),
  );
  await writeFile(join(dir, 'authorized_keys'), await readFile(`${clientKeyPath}.pub`), {
    mode: 0o600,
  });

  const port = await freePort();
  const hostAlias = 'loopgate-test-sshd';
  const knownHostsEntry = (pub: string) =>
    `[127.0.0.1]:${port} ${pub.split(' ').slice(0, 2).join(' ')}\n`;
  const knownHostsPath = join(dir, 'known_hosts');
  await writeFile(knownHostsPath, knownHostsEntry(await readFile(`${hostKey}.pub`, 'utf8')));
  const configPath = join(dir, 'sshd_config');
  await writeFile(
    configPath,
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${hostKey}`,
      'PidFile none',
      `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
      'PubkeyAuthentication yes',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      'PermitRootLogin prohibit-password',
      `AllowUsers ${user}`,
      'AllowTcpForwarding local',
      'AllowAgentForwarding no',
      'AllowStreamLocalForwarding no',
      'X11Forwarding no',
      'PermitTTY no',
      // Keys live in a temp dir owned by whoever runs the tests.
      'StrictModes no',
      'LogLevel INFO',
      '',
    ].join('\n'),
  );

  let variants = 0;
  const clientConfig = async (knownHosts: string, identity: string): Promise<string> => {
    const path = join(dir, `ssh_config_${variants++}`);
    await writeFile(
      path,
      [
        `Host ${hostAlias}`,
        '  HostName 127.0.0.1',
        `  Port ${port}`,
        `  User ${user}`,
        `  IdentityFile ${identity}`,
        '  IdentitiesOnly yes',
        `  UserKnownHostsFile ${knownHosts}`,
        '  GlobalKnownHostsFile /dev/null',
        // Not StrictHostKeyChecking: left at OpenSSH's default, as the tunnel leaves it to the user's config.
        '  UpdateHostKeys no',
        '  PasswordAuthentication no',
        '  KbdInteractiveAuthentication no',
        '',
      ].join('\n'),
    );
    return path;
  };
  const sshConfigPath = await clientConfig(knownHostsPath, clientKeyPath);

  let child: ChildProcess | undefined;
  let stderr = '';
  const launch = async () => {
    stderr = '';
    const proc = spawn(SSHD, ['-D', '-e', '-f', configPath], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    proc.stderr?.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-8_000);
    });
    child = proc;
    const exited = new Promise<never>((_, reject) =>
      proc.once('exit', (code) =>
        reject(new Error(`sshd exited with ${code} at start: ${stderr.trim()}`)),
      ),
    );
    // Marks the rejection handled here; the race below still sees it.
    exited.catch(() => {});
    await Promise.race([waitForBanner(port, 10_000), exited]);
  };
  await launch();

  const treePids = (): number[] => (child?.pid ? [child.pid, ...descendantsOf(child.pid)] : []);
  const signalTree = (signal: NodeJS.Signals) => {
    for (const pid of treePids()) {
      try {
        process.kill(pid, signal);
      } catch {
        // Already gone.
      }
    }
  };
  const kill = async () => {
    const proc = child;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    // Connection children first would let the master fork new ones; collect them all, then kill at once.
    signalTree('SIGCONT');
    signalTree('SIGKILL');
    await exited;
  };

  // A crashed or interrupted test run must not leave a root sshd listening.
  const killOnExit = () => signalTree('SIGKILL');
  process.once('exit', killOnExit);

  return {
    host: '127.0.0.1',
    port,
    user,
    hostAlias,
    sshConfigPath,
    clientKeyPath,
    wrongClientKeyPath,
    knownHostsPath,
    get pid() {
      return child?.pid ?? -1;
    },
    async variantConfig({ knownHosts = 'correct', identity = 'correct' }) {
      let knownHostsFile = knownHostsPath;
      if (knownHosts !== 'correct') {
        knownHostsFile = join(dir, `known_hosts_${knownHosts}`);
        const content =
          knownHosts === 'empty'
            ? ''
            : knownHostsEntry(await readFile(`${otherHostKey}.pub`, 'utf8'));
        await writeFile(knownHostsFile, content);
      }
      return clientConfig(
        knownHostsFile,
        identity === 'correct' ? clientKeyPath : wrongClientKeyPath,
      );
    },
    kill,
    async restart() {
      await kill();
      await launch();
    },
    freeze: () => signalTree('SIGSTOP'),
    thaw: () => signalTree('SIGCONT'),
    async stop() {
      process.off('exit', killOnExit);
      await kill();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Pids whose parent chain leads to `root`, read from /proc (sshd forks one child per connection). */
export function descendantsOf(root: number): number[] {
  const parentOf = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // Fields after the parenthesised command name: state, ppid, ...
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parentOf.set(Number(name), ppid);
    } catch {
      // Exited while we looked.
    }
  }
  const found: number[] = [];
  const queue = [root];
  while (queue.length > 0) {
    const parent = queue.shift() as number;
    for (const [pid, ppid] of parentOf) {
      if (ppid === parent) {
        found.push(pid);
        queue.push(pid);
      }
    }
  }
  return found;
}

/** Pids of live `ssh` client processes whose command line contains `marker`. */
export function sshProcessesMatching(marker: string): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const argv = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0');
      const state = readFileSync(`/proc/${name}/stat`, 'utf8');
      const zombie = state.slice(state.lastIndexOf(')') + 2).startsWith('Z');
      if (!zombie && argv[0]?.endsWith('ssh') && argv.some((a) => a.includes(marker)))
        pids.push(Number(name));
    } catch {
      // Exited while we looked.
    }
  }
  return pids;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Resolves once something on `port` speaks SSH (sends its identification banner). */
async function waitForBanner(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port });
      socket.setTimeout(1_000, () => socket.destroy());
      socket.once('data', (data) => {
        socket.destroy();
        resolve(data.toString('latin1').startsWith('SSH-'));
      });
      socket.once('error', () => resolve(false));
      socket.once('close', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline)
      throw new Error(`sshd did not answer on 127.0.0.1:${port} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

function onPath(tool: string): boolean {
  return (process.env.PATH ?? '').split(':').some((dir) => {
    try {
      accessSync(join(dir, tool), constants.X_OK);
      return true;
    } catch {
      // Not there or not executable: the tool is missing from this PATH entry.
      return false;
    }
  });
}
