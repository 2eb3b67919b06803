import { type ChildProcess, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const CLI_ENTRY = join(REPO_ROOT, 'apps/cli/src/main.ts');
const TSX_LOADER = createRequire(join(REPO_ROOT, 'package.json')).resolve('tsx');
/** The command `pnpm install` links (a shell shim → apps/cli/bin → the bundle its postinstall built). */
export const INSTALLED_CLI = join(REPO_ROOT, 'node_modules', '.bin', 'loopgate');

/** node args that run a workspace TypeScript entry from source, as `pnpm loopgate` does. */
export function sourceNodeArgs(entry: string): string[] {
  return ['--conditions=@loopgate/source', '--import', TSX_LOADER, entry];
}

export type CliResult = {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
};

export type CliOptions = {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Run the installed `loopgate` command (the user's path) instead of the source through tsx. */
  installed?: boolean;
  /** Written to the child's stdin, which is then closed; without it stdin is not connected. */
  stdin?: string;
};

/** Spawns the real `loopgate` CLI (from source unless `installed`) as a child process. */
export function spawnCli(args: string[], options: CliOptions = {}): ChildProcess {
  const [command, argv] = options.installed
    ? [INSTALLED_CLI, args]
    : [process.execPath, [...sourceNodeArgs(CLI_ENTRY), ...args]];
  const child = spawn(command, argv, {
    cwd: options.cwd ?? REPO_ROOT,
    env: { ...process.env, NO_COLOR: '1', ...options.env },
    stdio: [options.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
  });
  if (options.stdin !== undefined) child.stdin?.end(options.stdin);
  return child;
}

/** Runs the CLI to completion (bounded) and collects its output. */
export function runCli(
  args: string[],
  options: CliOptions & { timeoutMs?: number } = {},
): Promise<CliResult> {
  return collectOutput(spawnCli(args, options), `loopgate ${args.join(' ')}`, options.timeoutMs);
}

/** Waits (bounded: killed past `timeoutMs`) for a child to end, with all it printed. */
export function collectOutput(
  child: ChildProcess,
  what: string,
  timeoutMs = 20_000,
): Promise<CliResult> {
  return new Promise((resolvePromise, reject) => {
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d) => {
      stdout += d;
    });
    child.stderr?.on('data', (d) => {
      stderr += d;
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${what} timed out; stderr: ${stderr}`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolvePromise({ code, signal, stdout, stderr });
    });
  });
}

/** Resolves once `predicate` holds on the child's accumulated stdout (or stderr), bounded. */
export function waitForOutput(
  child: ChildProcess,
  predicate: (text: string) => boolean,
  options: { stream?: 'stdout' | 'stderr'; timeoutMs?: number } = {},
): Promise<string> {
  const stream = options.stream === 'stderr' ? child.stderr : child.stdout;
  return new Promise((resolvePromise, reject) => {
    let text = '';
    const timer = setTimeout(() => {
      stream?.off('data', onData);
      reject(new Error(`timed out waiting for output; got: ${text.slice(-2000)}`));
    }, options.timeoutMs ?? 15_000);
    const onData = (chunk: Buffer) => {
      text += chunk.toString();
      if (predicate(text)) {
        clearTimeout(timer);
        stream?.off('data', onData);
        resolvePromise(text);
      }
    };
    stream?.on('data', onData);
    child.once('exit', () => {
      if (!predicate(text)) {
        clearTimeout(timer);
        reject(new Error(`process exited before expected output; got: ${text.slice(-2000)}`));
      }
    });
  });
}

/** SIGKILLs every child in `children` that still runs, waits for each to exit, and empties the list. */
export async function killChildren(children: ChildProcess[]): Promise<void> {
  for (const child of children.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
    }
  }
}
