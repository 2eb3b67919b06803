import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createGateway, type Gateway } from '@loopgate/gateway';
import type { LoopgateConfigInput } from '@loopgate/protocol';

export type TestGateway = {
  gateway: Gateway;
  /** ws://127.0.0.1:<port> — stable across `restart()`. */
  url: string;
  port: number;
  /** The generated operator token (read from the 0600 file, as a local client would). */
  token: string;
  stateDir: string;
  /** Stops and starts a new gateway on the same port and state dir. */
  restart(): Promise<void>;
  stop(): Promise<void>;
};

/** A temp dir that `cleanup` removes; every test gateway and node gets its own. */
export async function makeTempDir(prefix = 'loopgate-test-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

/**
 * A real gateway on 127.0.0.1 with a free port and a fresh state dir, with
 * quiet logs. Deep-merges `config` over test defaults.
 */
export async function startTestGateway(
  options: { config?: LoopgateConfigInput; stateDir?: string } = {},
): Promise<TestGateway> {
  const stateDir = options.stateDir ?? (await makeTempDir());
  const base: LoopgateConfigInput = { gateway: { port: 0 }, logging: { level: 'silent' } };
  const config = mergeConfig(base, options.config ?? {});
  let gateway = createGateway(config, { stateDir });
  await gateway.start();
  const port = gateway.port;
  const url = `ws://127.0.0.1:${port}`;
  const token = gateway.tokenPath
    ? (await readFile(gateway.tokenPath, 'utf8')).trim()
    : (config.gateway?.auth?.token ?? '');
  let stopped = false;
  const handle: TestGateway = {
    get gateway() {
      return gateway;
    },
    url,
    port,
    token,
    stateDir,
    async restart() {
      await gateway.stop('restart');
      gateway = createGateway(mergeConfig(config, { gateway: { port } }), { stateDir });
      await gateway.start();
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await gateway.stop('test finished');
      if (!options.stateDir) await rm(stateDir, { recursive: true, force: true });
    },
  };
  return handle;
}

type Obj = Record<string, unknown>;
export function mergeConfig<T extends Obj>(base: T, over: Obj): T {
  const out: Obj = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const prev = out[key];
    out[key] =
      value &&
      typeof value === 'object' &&
      !Array.isArray(value) &&
      prev &&
      typeof prev === 'object' &&
      !Array.isArray(prev)
        ? mergeConfig(prev as Obj, value as Obj)
        : value;
  }
  return out as T;
}
