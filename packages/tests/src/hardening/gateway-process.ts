import { type ChildProcess, spawn } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LoopgateConfigInput } from '@loopgate/protocol';
import { sourceNodeArgs } from '../cli-process.js';
import { makeTempDir, mergeConfig } from '../gateway-harness.js';
import type { ChildReply, ChildRequest, GatewayMemorySample } from './gateway-child.js';

export type { GatewayMemorySample } from './gateway-child.js';

const CHILD_ENTRY = join(dirname(fileURLToPath(import.meta.url)), 'gateway-child.ts');

export type GatewayProcess = {
  child: ChildProcess;
  pid: number;
  url: string;
  port: number;
  token: string;
  stateDir: string;
  /** Memory after two forced GCs, plus event listeners and live connections. */
  memory(): Promise<GatewayMemorySample>;
  /** Graceful stop; resolves when the process has exited. */
  stop(): Promise<void>;
  /** Resolves with the exit once the process is gone. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Everything the process wrote to stderr so far. */
  stderr(): string;
};

/**
 * A real gateway in a child process (run from source like `pnpm loopgate`),
 * with `--expose-gc` so memory samples mean something. Used where a test
 * measures the gateway's memory, kills it, or freezes it.
 */
export async function startGatewayProcess(
  options: {
    config?: LoopgateConfigInput;
    stateDir?: string;
    env?: NodeJS.ProcessEnv;
    /** Flags for node itself (V8's), before the entry. */
    nodeArgs?: readonly string[];
  } = {},
): Promise<GatewayProcess> {
  const ownsStateDir = !options.stateDir;
  const stateDir = options.stateDir ?? (await makeTempDir('loopgate-proc-'));
  const config = mergeConfig(
    { gateway: { port: 0 }, logging: { level: 'silent' } },
    options.config ?? {},
  );
  const nodeArgs = ['--expose-gc', ...(options.nodeArgs ?? []), ...sourceNodeArgs(CHILD_ENTRY)];
  const child = spawn(process.execPath, nodeArgs, {
    env: {
      ...process.env,
      ...options.env,
      LOOPGATE_CHILD_SPEC: JSON.stringify({ config, stateDir }),
    },
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  let stderr = '';
  child.stderr?.on('data', (d) => {
    stderr += d;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const ready = await new Promise<Extract<ChildReply, { type: 'ready' }>>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`gateway process did not start in time; stderr: ${stderr}`));
    }, 20_000);
    child.on('message', (raw) => {
      const reply = raw as ChildReply;
      if (reply.type === 'ready') {
        clearTimeout(timer);
        resolve(reply);
      } else if (reply.type === 'failed') {
        clearTimeout(timer);
        reject(new Error(`gateway process failed to start: ${reply.message}`));
      }
    });
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(
        new Error(
          `gateway process exited (${code ?? signal}) before it was ready; stderr: ${stderr}`,
        ),
      );
    });
  });

  const configuredToken = (config.gateway as { auth?: { token?: string } } | undefined)?.auth
    ?.token;
  const token = ready.tokenPath
    ? (await readFile(ready.tokenPath, 'utf8')).trim()
    : (configuredToken ?? '');
  let nextId = 1;
  const request = <T extends ChildReply['type']>(
    type: ChildRequest['type'],
    expect: T,
  ): Promise<Extract<ChildReply, { type: T }>> =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      const timer = setTimeout(
        () => reject(new Error(`gateway process did not answer "${type}" in time`)),
        15_000,
      );
      const onMessage = (raw: unknown) => {
        const reply = raw as ChildReply & { id?: number };
        if (reply.type === expect && reply.id === id) {
          clearTimeout(timer);
          child.off('message', onMessage);
          resolve(reply as Extract<ChildReply, { type: T }>);
        }
      };
      child.on('message', onMessage);
      child.send({ type, id } satisfies ChildRequest);
    });

  return {
    child,
    pid: child.pid as number,
    url: ready.url,
    port: ready.port,
    token,
    stateDir,
    exited,
    stderr: () => stderr,
    memory: async () => (await request('memory', 'memory')).sample,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        await request('stop', 'stopped').catch(() => child.kill('SIGKILL'));
        // A process that lingers after a graceful stop is a leak worth seeing, not a hang.
        const lingering = setTimeout(() => child.kill('SIGKILL'), 5_000);
        await exited;
        clearTimeout(lingering);
      }
      if (ownsStateDir) await rm(stateDir, { recursive: true, force: true });
    },
  };
}
