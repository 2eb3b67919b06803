import { spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { hostBundlePath } from '../build-hosts.js';
import { REPO_ROOT } from '../child.js';
import type { BenchContext } from '../context.js';
import { type AbsoluteResult, absoluteResult } from '../results.js';
import { median } from '../stats.js';
import { userPathEnv } from './user-path.js';

const TSX_LOADER = createRequire(join(REPO_ROOT, 'package.json')).resolve('tsx');

/** A port nobody listens on right now (the kernel's pick, released at once). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

function tryConnect(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    ws.once('open', () => {
      ws.terminate();
      resolve(true);
    });
    ws.once('error', () => resolve(false));
  });
}

/**
 * Spawns one gateway and times spawn → the first WebSocket the gateway
 * accepts (the client's `open`), dialling every 2 ms. Fresh state dir each
 * time, so the token and event log are created as on a first start.
 */
async function timeOneStart(args: string[], token: string): Promise<number> {
  const port = await freePort();
  const stateDir = await mkdtemp(join(tmpdir(), 'loopgate-bench-cold-'));
  const started = performance.now();
  const child = spawn(
    process.execPath,
    args.map((a) => a.replace('{port}', String(port))),
    {
      cwd: REPO_ROOT,
      env: userPathEnv({
        NO_COLOR: '1',
        LOOPGATE_STATE_DIR: stateDir,
        LOOPGATE_GATEWAY_TOKEN: token,
        LOOPGATE_GATEWAY_PORT: String(port),
      }),
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let stderr = '';
  child.stderr?.on('data', (d) => {
    stderr += d;
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    const url = `ws://127.0.0.1:${port}`;
    for (;;) {
      if (await tryConnect(url)) return performance.now() - started;
      if (child.exitCode !== null)
        throw new Error(`gateway exited (${child.exitCode}): ${stderr.slice(-500)}`);
      if (performance.now() - started > 30_000)
        throw new Error('gateway did not accept a connection within 30 s');
      await new Promise((r) => setTimeout(r, 2));
    }
  } finally {
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 3_000);
    await exited;
    clearTimeout(timer);
    await rm(stateDir, { recursive: true, force: true });
  }
}

/**
 * Cold start, three ways: the bundled gateway host (what the target is
 * about), `loopgate gateway run` from its `tsc -b` output when that exists,
 * and from source through tsx (what `pnpm start` does). Spawns alternate
 * between the variants; one unrecorded warm-up each (page cache, tsx cache).
 */
export async function coldStartShapes(ctx: BenchContext): Promise<AbsoluteResult[]> {
  const bundle = {
    path: hostBundlePath('cold-start-host'),
    bytes: statSync(hostBundlePath('cold-start-host')).size,
  };
  const builtCli = join(REPO_ROOT, 'apps/cli/dist/main.js');
  const variants = [
    {
      id: 'coldStart.bundle',
      title: 'cold start → first accepted connection (gateway host, one-file bundle)',
      args: [bundle.path],
      target: 350,
      spawns: 7,
      note: `node bench/dist/cold-start-host.mjs (esbuild bundle, ${(bundle.bytes / 1024).toFixed(0)} KB)`,
    },
    {
      id: 'coldStart.cliBundle',
      title: 'cold start → first accepted connection (`loopgate gateway run`, one-file bundle)',
      args: [hostBundlePath('loopgate-cli'), 'gateway', 'run', '--port', '{port}'],
      spawns: 3,
      note: 'node bench/dist/loopgate-cli.mjs: the whole CLI, every command it imports up front',
    },
    ...(existsSync(builtCli)
      ? [
          {
            id: 'coldStart.cliBuilt',
            title: 'cold start → first accepted connection (`loopgate gateway run`, tsc -b output)',
            args: [builtCli, 'gateway', 'run', '--port', '{port}'],
            spawns: 3,
            note: 'node apps/cli/dist/main.js, as built by the last `pnpm build`',
          },
        ]
      : []),
    {
      id: 'coldStart.cliSource',
      title: 'cold start → first accepted connection (`loopgate gateway run` from source)',
      args: [
        '--conditions=@loopgate/source',
        '--import',
        TSX_LOADER,
        join(REPO_ROOT, 'apps/cli/src/main.ts'),
        'gateway',
        'run',
        '--port',
        '{port}',
      ],
      spawns: 3,
      note: 'apps/cli/src/main.ts through tsx',
    },
  ];
  const times = variants.map(() => [] as number[]);
  const rounds = Math.max(...variants.map((v) => v.spawns));
  for (let round = 0; round <= rounds; round++) {
    for (let i = 0; i < variants.length; i++) {
      if (round > variants[i]!.spawns) continue;
      const ms = await timeOneStart(variants[i]!.args, ctx.target.token);
      if (round > 0) times[i]!.push(ms);
    }
  }
  return variants.map((v, i) =>
    absoluteResult({
      id: v.id,
      title: v.title,
      unit: 'ms',
      value: Math.round(median(times[i]!)),
      ...(v.target !== undefined ? { target: v.target } : {}),
      details: { spawnsMs: times[i]!.map(Math.round), minMs: Math.round(Math.min(...times[i]!)) },
      note: `median of ${v.spawns} spawns (min ${Math.round(Math.min(...times[i]!))}); ${v.note}`,
    }),
  );
}
