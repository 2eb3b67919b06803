import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { StateLockHolder } from '@loopgate/gateway';
import { resolveStateDir } from '@loopgate/protocol';
import type { Command } from 'commander';
import { withClient } from '../connect.js';
import { UsageError } from '../exit-codes.js';
import { note, printResult } from '../output.js';
import { gatewayRunOptions, type RunFlags } from './gateway.js';
import { describeLockStatus, portOf } from './state-dir-lock.js';

/**
 * `gateway stop | restart` for a gateway running in the background, found
 * through its state dir's lock (the active profile's). Nothing here dials a
 * URL to find the gateway: the lock names its pid and port.
 */

const gatewayModule = () => import('@loopgate/gateway');

/** How long `stop` waits after SIGTERM: runs in flight finish first, then transcripts flush. */
const DEFAULT_STOP_TIMEOUT_S = 15;
/** How long `restart` waits for the new process to answer `health`. */
const DEFAULT_START_TIMEOUT_S = 30;
const PROGRESS_EVERY_MS = 2_000;

type StopResult = { stopped: boolean; pid?: number; port?: number; message: string };

/**
 * SIGTERM to the lock holder, then waits (bounded, saying so every 2 s)
 * until its process is gone. Nothing running is not an error: the goal state
 * is already there.
 */
async function stopLockHolder(stateDir: string, timeoutMs: number): Promise<StopResult> {
  const { readStateLock, isLockHolderRunning } = await gatewayModule();
  const status = await readStateLock(stateDir);
  if (status.state === 'unreadable')
    throw new UsageError(`${describeLockStatus(stateDir, status)}: remove it if no gateway runs`);
  if (status.state !== 'held')
    return { stopped: false, message: describeLockStatus(stateDir, status) };
  const { holder } = status;
  // Its pid means nothing here: signalling it would hit an unrelated local process.
  if (holder.host !== hostname())
    throw new UsageError(
      `the gateway on state dir ${stateDir} runs on host ${holder.host} (pid ${holder.pid}): stop it there`,
    );
  try {
    process.kill(holder.pid, 'SIGTERM');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EPERM')
      throw new UsageError(
        `gateway pid ${holder.pid} on state dir ${stateDir} runs as another user: stop it as that user (kill -TERM ${holder.pid})`,
      );
    if (code !== 'ESRCH') throw error;
  }
  note(
    `stopping gateway pid ${holder.pid}${portOf(holder)}: SIGTERM sent, waiting up to ${Math.round(timeoutMs / 1000)} s`,
  );
  const started = Date.now();
  let nextProgress = started + PROGRESS_EVERY_MS;
  while (isLockHolderRunning(holder)) {
    const now = Date.now();
    if (now - started > timeoutMs) {
      throw new Error(
        `gateway pid ${holder.pid} did not stop within ${Math.round(timeoutMs / 1000)} s of SIGTERM (runs in flight finish first): wait and check with loopgate gateway status, or force it with kill -KILL ${holder.pid} (the next start takes over its lock)`,
      );
    }
    if (now >= nextProgress) {
      note(
        `still waiting for pid ${holder.pid} to stop (${Math.round((now - started) / 1000)} s)…`,
      );
      nextProgress += PROGRESS_EVERY_MS;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    stopped: true,
    pid: holder.pid,
    ...(holder.port === undefined ? {} : { port: holder.port }),
    message: `stopped gateway pid ${holder.pid}${portOf(holder)} (state dir ${stateDir})`,
  };
}

/** The `gateway run` argv a restart hands to the new process: only the flags given to `restart`. */
function runArgv(flags: RunFlags): string[] {
  return [
    'gateway',
    'run',
    ...(flags.port !== undefined ? ['--port', flags.port] : []),
    ...(flags.bind !== undefined ? ['--bind', flags.bind] : []),
    ...(flags.config !== undefined ? ['--config', flags.config] : []),
    ...(flags.verbose ? ['--verbose'] : []),
  ];
}

/**
 * Starts `loopgate gateway run` detached (same node, loader and entry as this
 * process; the profile travels in LOOPGATE_PROFILE), its output appended to
 * `<state dir>/logs/gateway.out`. Resolves with the new lock holder once it
 * listens; rejects with the child's last output line if it exits first.
 */
async function startDetached(
  stateDir: string,
  flags: RunFlags,
  deadline: number,
): Promise<StateLockHolder> {
  const { readStateLock } = await gatewayModule();
  const logs = join(stateDir, 'logs');
  mkdirSync(logs, { recursive: true, mode: 0o700 });
  const outPath = join(logs, 'gateway.out');
  const out = openSync(outPath, 'a', 0o600);
  const child = spawn(
    process.execPath,
    [...process.execArgv, process.argv[1] ?? '', ...runArgv(flags)],
    { detached: true, stdio: ['ignore', out, out], env: process.env },
  );
  closeSync(out);
  child.unref();
  let exit: number | null | undefined;
  child.once('exit', (code) => {
    exit = code;
  });
  let nextProgress = Date.now() + PROGRESS_EVERY_MS;
  for (;;) {
    const status = await readStateLock(stateDir);
    if (status.state === 'held' && status.holder.pid === child.pid && status.holder.url)
      return status.holder;
    if (exit !== undefined) {
      const last = lastLine(outPath);
      const message = `the new gateway exited (code ${exit}) before listening${last ? `: ${last}` : ''} (output in ${outPath})`;
      throw exit === 2 ? new UsageError(message) : new Error(message);
    }
    if (Date.now() > deadline)
      throw new Error(
        `the new gateway (pid ${child.pid}) is not listening after ${DEFAULT_START_TIMEOUT_S} s: see ${outPath}`,
      );
    if (Date.now() >= nextProgress) {
      note(`waiting for the new gateway (pid ${child.pid}) to listen…`);
      nextProgress += PROGRESS_EVERY_MS;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

function lastLine(path: string): string | undefined {
  try {
    const lines = readFileSync(path, 'utf8').trim().split('\n');
    return lines.at(-1)?.replace(/^loopgate: /, '');
  } catch {
    // No output file: nothing to quote.
    return undefined;
  }
}

/** Dials the new gateway until `health` answers, bounded by the restart deadline. */
async function waitForHealth(
  stateDir: string,
  holder: StateLockHolder,
  deadline: number,
): Promise<number> {
  const url = holder.url!;
  // A wss:// gateway with its own self-signed certificate: pin what it wrote to its state dir.
  const pin = url.startsWith('wss:')
    ? (await (await gatewayModule()).readGatewayFingerprint({ stateDir }))?.fingerprint
    : undefined;
  let lastError: unknown;
  while (Date.now() <= deadline) {
    try {
      const health = await withClient({ url, ...(pin ? { tlsFingerprint: [pin] } : {}) }, (c) =>
        c.health.query(),
      );
      return health.uptimeMs;
    } catch (error) {
      lastError = error;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  throw new Error(
    `the new gateway (pid ${holder.pid}) listens on ${holder.url} but did not answer health: ${lastError instanceof Error ? lastError.message : String(lastError)}`,
  );
}

function parseTimeout(value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback * 1000;
  if (!/^\d+$/.test(value) || Number(value) === 0)
    throw new UsageError(`--timeout must be a whole number of seconds, got "${value}"`);
  return Number(value) * 1000;
}

type StopFlags = { timeout?: string; json?: boolean };

export function registerLifecycleCommands(gateway: Command): void {
  gateway
    .command('stop')
    .description('stop the gateway running on this state dir (profile): SIGTERM, then wait')
    .option(
      '--timeout <seconds>',
      `how long to wait for it to exit (default ${DEFAULT_STOP_TIMEOUT_S})`,
    )
    .option('--json', 'print the result as JSON on stdout')
    .action(async (flags: StopFlags) => {
      const stateDir = resolveStateDir();
      const result = await stopLockHolder(
        stateDir,
        parseTimeout(flags.timeout, DEFAULT_STOP_TIMEOUT_S),
      );
      printResult(result, { json: flags.json, human: (r) => r.message });
    });

  gatewayRunOptions(
    gateway
      .command('restart')
      .description(
        'stop the gateway on this state dir (profile) if one runs, start it again in the background, and return once it answers health',
      )
      .option(
        '--timeout <seconds>',
        `how long to wait for the old one to stop (default ${DEFAULT_STOP_TIMEOUT_S})`,
      )
      .option('--json', 'print the result as JSON on stdout'),
  ).action(async (flags: RunFlags & StopFlags) => {
    const stateDir = resolveStateDir();
    const stopped = await stopLockHolder(
      stateDir,
      parseTimeout(flags.timeout, DEFAULT_STOP_TIMEOUT_S),
    );
    note(stopped.message);
    const deadline = Date.now() + DEFAULT_START_TIMEOUT_S * 1000;
    const holder = await startDetached(stateDir, flags, deadline);
    const uptimeMs = await waitForHealth(stateDir, holder, deadline);
    printResult(
      { restarted: true, pid: holder.pid, port: holder.port, url: holder.url, uptimeMs },
      {
        json: flags.json,
        human: (r) =>
          `gateway pid ${r.pid} listening on ${r.url} and answering health (state dir ${stateDir}; output in ${join(stateDir, 'logs', 'gateway.out')})`,
      },
    );
  });
}
