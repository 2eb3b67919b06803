import { spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { access, realpath } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, delimiter, isAbsolute, join, resolve } from 'node:path';
import { z } from 'zod';
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

/** The real path of each allowed executable; a name that cannot be found is a configuration error. */
export async function resolveAllowlist(
  allow: string[],
  env: Record<string, string | undefined> = process.env,
): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const entry of allow) {
    const found = await findExecutable(entry, env);
    if (!found)
      throw new Error(`allowed executable "${entry}" was not found (or is not executable)`);
    out.set(found, entry);
  }
  return out;
}

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
      return await realpath(candidate);
    } catch {
      // not here
    }
  }
  return undefined;
}

/**
 * `system.run`: runs an allowlisted executable without a shell (no globbing,
 * no pipes, no expansion — args are passed as they are), with a timeout, an
 * output cap and a minimal environment; returns the exit code and output.
 * A non-zero exit is a result, not an error.
 */
export function systemRunCommand(
  allowed: Map<string, string>,
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
    description: `Run one of: ${[...allowed.values()].join(', ')}`,
    params: SystemRunParams,
    run: async (params, { signal }) => {
      const executable = await findExecutable(params.command, env);
      if (!executable || !allowed.has(executable)) {
        throw new CommandError(
          'FORBIDDEN',
          `"${params.command}" is not in this node's allowlist for system.run`,
          {
            allowed: [...allowed.values()],
          },
        );
      }
      const cwd = params.cwd
        ? await resolveInsideRoots(params.cwd, options.roots ?? [])
        : childEnv.HOME;
      const timeoutMs = Math.min(params.timeoutMs ?? maxTimeout, maxTimeout);
      return runProcess(executable, params, { cwd, env: childEnv, timeoutMs, maxOutput, signal });
    },
  });
}

function runProcess(
  executable: string,
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
    const child = spawn(executable, params.args, {
      argv0: basename(params.command),
      cwd: options.cwd,
      env: options.env,
      shell: false,
      stdio: ['pipe', 'pipe', 'pipe'],
      windowsHide: true,
      // Its own process group, so a kill also reaches what it started (`sh -c 'sleep 99'`).
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
        if (process.platform === 'win32') child.kill('SIGKILL');
        else process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    };
    const collect = (stream: 'stdout' | 'stderr') => (chunk: Buffer) => {
      const room = options.maxOutput - out.bytes[stream];
      if (room <= 0) return;
      out[stream].push(chunk.length > room ? chunk.subarray(0, room) : chunk);
      out.bytes[stream] += Math.min(chunk.length, room);
      if (chunk.length > room) {
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
