import { spawnSync } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { activeProfile, baseStateDir } from '@loopgate/protocol';
import type { Command } from 'commander';
import { UsageError } from '../exit-codes.js';
import { note } from '../output.js';

/**
 * `gateway install | uninstall`: a systemd user unit that runs
 * `loopgate [--profile <name>] gateway run`, one per profile. The unit holds
 * no secret: the gateway reads its token and config from the profile's state
 * dir as it does in the foreground.
 */

/** `loopgate-gateway.service`, or `loopgate-gateway-<profile>.service`. */
export function unitName(profile: string | undefined): string {
  return profile ? `loopgate-gateway-${profile}.service` : 'loopgate-gateway.service';
}

/** `$XDG_CONFIG_HOME/systemd/user`, or `~/.config/systemd/user`: where systemd looks for user units. */
export function userUnitDir(env: NodeJS.ProcessEnv = process.env): string {
  const config = env.XDG_CONFIG_HOME ? resolve(env.XDG_CONFIG_HOME) : join(homedir(), '.config');
  return join(config, 'systemd', 'user');
}

/**
 * One ExecStart word: double-quoted, with the characters systemd expands
 * escaped (`%` specifiers, `$` variables, backslash and quote).
 */
function quoteWord(word: string): string {
  return `"${word.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/%/g, '%%').replace(/\$/g, '$$$$')}"`;
}

/** The command this very CLI was started with (node, its loader flags, the entry), absolute. */
function selfCommand(): string[] {
  const entry = process.argv[1];
  if (!entry)
    throw new Error('cannot tell which loopgate entry is running (process.argv[1] is empty)');
  return [process.execPath, ...process.execArgv, resolve(entry)];
}

export type UnitOptions = {
  profile: string | undefined;
  /** Set when the operator chose a base dir: the unit must see the same one. */
  stateDirBase: string | undefined;
  command: string[];
};

export function renderUnit(options: UnitOptions): string {
  const { profile } = options;
  const args = [...options.command, ...(profile ? ['--profile', profile] : []), 'gateway', 'run'];
  const environment = options.stateDirBase
    ? [`Environment=${quoteWord(`LOOPGATE_STATE_DIR=${options.stateDirBase}`)}`]
    : [];
  return [
    '[Unit]',
    `Description=Loopgate gateway${profile ? ` (profile ${profile})` : ''}`,
    'After=network-online.target',
    'Wants=network-online.target',
    '',
    '[Service]',
    'Type=simple',
    `ExecStart=${args.map(quoteWord).join(' ')}`,
    ...environment,
    // A clean stop (SIGTERM, exit 0) stays stopped; a crash comes back. A second gateway on the
    // same state dir exits 2: not retried, since only the operator can resolve it.
    'Restart=on-failure',
    'RestartSec=2',
    'RestartPreventExitStatus=2',
    // Runs in flight finish and transcripts flush before the gateway exits.
    'TimeoutStopSec=30',
    'UMask=0077',
    // Room for maxConnections (4 096 by default) sockets besides state files: systemd's usual
    // soft limit of 1 024 descriptors let idle connections from a few addresses use them all up.
    'LimitNOFILE=65536',
    'NoNewPrivileges=yes',
    '',
    '[Install]',
    'WantedBy=default.target',
    '',
  ].join('\n');
}

type SystemctlResult = { ok: boolean; detail: string };

function systemctl(args: string[]): SystemctlResult {
  const run = spawnSync('systemctl', ['--user', ...args], { encoding: 'utf8', timeout: 15_000 });
  if (run.error) return { ok: false, detail: run.error.message };
  const detail = `${run.stderr ?? ''}${run.stdout ?? ''}`.trim().split('\n')[0] ?? '';
  return { ok: run.status === 0, detail };
}

type ServiceFlags = { print?: boolean; enable: boolean };

async function install(flags: ServiceFlags): Promise<void> {
  const profile = activeProfile();
  const unit = renderUnit({
    profile,
    stateDirBase: process.env.LOOPGATE_STATE_DIR ? baseStateDir() : undefined,
    command: selfCommand(),
  });
  if (flags.print) {
    process.stdout.write(unit);
    return;
  }
  const name = unitName(profile);
  const dir = userUnitDir();
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const path = join(dir, name);
  await writeFile(path, unit, { mode: 0o600 });
  process.stdout.write(`wrote ${path}\n`);
  const enableCommand = `systemctl --user enable --now ${name}`;
  if (!flags.enable) {
    process.stdout.write(`start it with: systemctl --user daemon-reload && ${enableCommand}\n`);
    return;
  }
  const reload = systemctl(['daemon-reload']);
  if (!reload.ok) {
    throw new Error(
      `the unit is written, but the systemd user manager cannot be reached (${reload.detail}): in a login session with one, run: systemctl --user daemon-reload && ${enableCommand}`,
    );
  }
  const enabled = systemctl(['enable', '--now', name]);
  if (!enabled.ok) throw new Error(`${enableCommand} failed: ${enabled.detail}`);
  process.stdout.write(
    `enabled and started ${name}; it survives logout only with: loginctl enable-linger\n`,
  );
}

async function uninstall(): Promise<void> {
  const name = unitName(activeProfile());
  const path = join(userUnitDir(), name);
  const disabled = systemctl(['disable', '--now', name]);
  if (!disabled.ok && !/not loaded|does not exist|No such file/i.test(disabled.detail))
    note(
      `systemctl --user disable --now ${name}: ${disabled.detail} (removing the unit file anyway)`,
    );
  const existed = await rm(path).then(
    () => true,
    (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return false;
      throw error;
    },
  );
  if (existed) systemctl(['daemon-reload']);
  process.stdout.write(existed ? `removed ${path}\n` : `${name} is not installed (no ${path})\n`);
}

export function registerServiceCommands(gateway: Command): void {
  gateway
    .command('install')
    .description(
      "write a systemd user unit that runs this profile's gateway (loopgate-gateway[-<profile>].service) and enable it",
    )
    .option('--print', 'print the unit on stdout instead of writing it')
    .option('--no-enable', 'only write the unit; do not reload, enable or start it')
    .action(async (flags: ServiceFlags) => {
      if (process.platform !== 'linux' && !flags.print)
        throw new UsageError(
          'gateway install writes a systemd unit: Linux only (use --print to see it)',
        );
      await install(flags);
    });

  gateway
    .command('uninstall')
    .description("stop, disable and remove this profile's systemd user unit")
    .action(uninstall);
}
