import { spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { access, realpath } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, delimiter, isAbsolute, join, resolve } from 'node:path';
import * as z from 'zod';
import { type CommandDefinition, CommandError, defineCommand } from '../commands.js';
import { type ResolvedRoot, resolveInsideRoots } from './fs-read.js';

export type SystemRunOptions = {
  /** Executables that may be run (names looked up in PATH, or paths). Empty: the command is not offered. */
  allow: string[];
  /** Default and upper bound per call (default 30 s). */
  timeoutMs?: number;
  /** Bytes kept of stdout and of stderr each (default 256 KiB); past it the process is killed. */
  maxOutputBytes?: number;
  /** Shared directories a call may pick as its working directory. */
  roots?: ResolvedRoot[];
  env?: Record<string, string | undefined>;
};

const SystemRunParams = z.object({
  /** A name from the allowlist, or its path. */
  command: z.string().min(1).max(4_096),
  args: z.array(z.string().max(16_384)).max(256).default([]),
  /** Working directory: inside a shared root (default: the node host's home directory). */
  cwd: z.string().min(1).max(4_096).optional(),
  stdin: z
    .string()
    .max(1024 * 1024)
    .optional(),
  timeoutMs: z.number().int().min(1).optional(),
});
type SystemRunParams = z.infer<typeof SystemRunParams>;

export type SystemRunResult = {
  command: string;
  exitCode: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  /** Output went past the cap: the process was killed and the rest dropped. */
  truncated: boolean;
  timedOut: boolean;
  durationMs: number;
};

/**
 * One `--allow-exec` entry, resolved once at start-up. A request must name
 * the entry exactly as configured (`xzcat`) or by `path`, the absolute path
 * the node prints when it starts; nothing else reaches it.
 */
export type AllowedExecutable = {
  /** As configured: a bare name looked up in PATH, or a path. */
  name: string;
  /** Where it was found (absolute, symlinks not resolved): printed at start, accepted in requests. */
  path: string;
  /** What is spawned: the real file, so a symlink changed later cannot redirect the call. */
  realPath: string;
  /**
   * What the program sees as argv[0]: fixed to the allowlisted name, never the
   * request's spelling. Multi-call binaries (xz/xzcat, busybox) choose their
   * behaviour from argv[0], so a request spelled `xz` or `sh` would otherwise
   * reach a different program in the same file.
   */
  argv0: string;
};

/** Request names (entry and absolute path) → the allowed executable; a name that cannot be found is a configuration error. */
export async function resolveAllowlist(
  allow: string[],
  env: Record<string, string | undefined> = process.env,
): Promise<Map<string, AllowedExecutable>> {
  const out = new Map<string, AllowedExecutable>();
  for (const name of allow) {
    const path = await findExecutable(name, env);
    if (!path) throw new Error(`allowed executable "${name}" was not found (or is not executable)`);
    const entry = { name, path, realPath: await realpath(path), argv0: basename(name) };
    out.set(name, entry);
    out.set(path, entry);
  }
  return out;
}

/** The first executable candidate, absolute; bare names through PATH, paths as given (relative to the node's cwd at start-up only). */
async function findExecutable(
  command: string,
  env: Record<string, string | undefined>,
): Promise<string | undefined> {
  const candidates = command.includes('/')
    ? [resolve(command)]
    : (env.PATH ?? '')
        .split(delimiter)
        .filter((dir) => isAbsolute(dir))
        .map((dir) => join(dir, command));
  for (const candidate of candidates) {
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here: try the next PATH entry
    }
  }
  return undefined;
}

/** The allowlisted entry a request names, by exact match only (no PATH lookup, no relative paths, no realpath equivalence). */
function allowedEntry(command: string, allowed: Map<string, AllowedExecutable>): AllowedExecutable {
  const entry = allowed.get(command);
  if (entry) return entry;
  const why = command.includes('/') && !isAbsolute(command) ? 'relative paths are refused; ' : '';
  throw new CommandError(
    'FORBIDDEN',
    `"${command.slice(0, 200)}" is not in this node's allowlist for system.run (${why}name an allowed executable exactly as listed)`,
    { allowed: [...allowed.keys()] },
  );
}

/**
 * `system.run`: runs an allowlisted executable without a shell (no globbing,
 * no pipes, no expansion — args are passed as they are), with a timeout, an
 * output cap and a minimal environment; returns the exit code and output.
 * A non-zero exit is a result, not an error.
 */
export function systemRunCommand(
  allowed: Map<string, AllowedExecutable>,
  options: Omit<SystemRunOptions, 'allow'> = {},
): CommandDefinition<SystemRunParams, SystemRunResult> {
  const maxTimeout = options.timeoutMs ?? 30_000;
  const maxOutput = options.maxOutputBytes ?? 256 * 1024;
  const env = options.env ?? process.env;
  const childEnv = {
    PATH: env.PATH ?? '/usr/bin:/bin',
    HOME: env.HOME ?? homedir(),
    LANG: env.LANG ?? 'C.UTF-8',
  };
  return defineCommand({
    description: `Run one of: ${[...allowed.keys()].join(', ')}`,
    params: SystemRunParams,
    run: async (params, { signal }) => {
      const executable = allowedEntry(params.command, allowed);
      const cwd = params.cwd
        ? await resolveInsideRoots(params.cwd, options.roots ?? [])
        : childEnv.HOME;
      const timeoutMs = Math.min(params.timeoutMs ?? maxTimeout, maxTimeout);
      return runProcess(executable, params, { cwd, env: childEnv, timeoutMs, maxOutput, signal });
    },
  });
}

function runProcess(
  executable: AllowedExecutable,
  params: SystemRunParams,
  options: {
    cwd: string;
    env: Record<string, string>;
    timeoutMs: number;
    maxOutput: number;
    signal: AbortSignal;
  },
): Promise<SystemRunResult> {
  const started = Date.now();
  return new Promise<SystemRunResult>((resolvePromise, reject) => {
    const child = spawn(executable.realPath, params.args, {
      argv0: executable.argv0,
      cwd: options.cwd,
      env: options.env,
      shell: false,
      stdio: ['pipe', 'pipe', 'pipe'],
      // Stryker disable next-line all: Windows only; on Linux a mutant here runs the same code
      windowsHide: true,
      // Its own process group, so a kill also reaches what it started (`sh -c 'sleep 99'`).
      // Stryker disable next-line all: the win32 test is Windows only; Linux always takes `true`
      detached: process.platform !== 'win32',
    });
    const out = { stdout: [] as Buffer[], stderr: [] as Buffer[], bytes: { stdout: 0, stderr: 0 } };
    let truncated = false;
    let timedOut = false;
    let killed = false;
    const kill = () => {
      if (killed || child.pid === undefined) return;
      killed = true;
      try {
        // Stryker disable next-line all: the win32 branch is Windows only; Linux always takes the group kill
        if (process.platform === 'win32') child.kill('SIGKILL');
        else process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    };
    // At the cap (>=, not >): output that fills it exactly would otherwise run on
    // unread until the timeout, as `cat /dev/zero` did with pipe-sized chunks.
    const collect = (stream: 'stdout' | 'stderr') => (chunk: Buffer) => {
      const room = options.maxOutput - out.bytes[stream];
      if (room > 0) {
        out[stream].push(chunk.length > room ? chunk.subarray(0, room) : chunk);
        out.bytes[stream] += Math.min(chunk.length, room);
      }
      if (out.bytes[stream] >= options.maxOutput) {
        truncated = true;
        kill();
      }
    };
    child.stdout.on('data', collect('stdout'));
    child.stderr.on('data', collect('stderr'));
    child.stdin.on('error', () => {
      // the process may exit without reading its input
    });
    child.stdin.end(params.stdin ?? '');
    const timer = setTimeout(() => {
      timedOut = true;
      kill();
    }, options.timeoutMs);
    const onAbort = () => kill();
    options.signal.addEventListener('abort', onAbort, { once: true });
    child.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      options.signal.removeEventListener('abort', onAbort);
      reject(
        new CommandError(
          'COMMAND_FAILED',
          `could not start "${params.command}" (${error.code ?? 'error'})`,
        ),
      );
    });
    child.once('close', (exitCode, signal) => {
      clearTimeout(timer);
      options.signal.removeEventListener('abort', onAbort);
      resolvePromise({
        command: params.command,
        exitCode,
        signal,
        stdout: Buffer.concat(out.stdout).toString('utf8'),
        stderr: Buffer.concat(out.stderr).toString('utf8'),
        truncated,
        timedOut,
        durationMs: Date.now() - started,
      });
    });
  });
}
