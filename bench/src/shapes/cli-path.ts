import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from '../child.js';
import type { BenchContext } from '../context.js';
import { type AbsoluteResult, absoluteResult } from '../results.js';
import { median } from '../stats.js';
import { userPathEnv } from './user-env.js';

/** The command `pnpm install` links and the README puts on PATH (a pnpm shell shim → apps/cli/bin). */
export const LOOPGATE_BIN = join(REPO_ROOT, 'node_modules', '.bin', 'loopgate');
const SPAWNS = 7;

/** Times one command from spawn to exit; a non-zero exit fails the row. */
function timeOneCall(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(command, args, {
      cwd: REPO_ROOT,
      env,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr?.on('data', (d) => {
      stderr += d;
    });
    child.once('error', reject);
    child.once('exit', (code) => {
      const ms = performance.now() - started;
      if (code === 0) resolve(ms);
      else reject(new Error(`${command} ${args.join(' ')} exited ${code}: ${stderr.slice(-500)}`));
    });
  });
}

/**
 * The user's path: `loopgate --version` and `loopgate health` as a shell
 * runs them after the README's set-up (node_modules/.bin/loopgate, the
 * bundle the postinstall built), spawn to exit, against the bench gateway;
 * and a bare `node -e ''`, the floor under both. One unrecorded warm-up
 * each (page cache; it also rebuilds a stale bundle).
 */
export async function cliPathShapes(ctx: BenchContext): Promise<AbsoluteResult[]> {
  const env = userPathEnv({ NO_COLOR: '1', LOOPGATE_GATEWAY_TOKEN: ctx.target.token });
  const caBundle = process.env.NODE_EXTRA_CA_CERTS;
  const calls = [
    {
      id: 'cliPath.version',
      title: '`loopgate --version` (spawn → exit)',
      command: LOOPGATE_BIN,
      args: ['--version'],
      env,
      target: 200,
    },
    {
      id: 'cliPath.health',
      title: '`loopgate health` against a running gateway (spawn → exit)',
      command: LOOPGATE_BIN,
      args: ['health', '--url', ctx.target.url],
      env,
      target: 300,
    },
    { id: 'cliPath.nodeItself', command: process.execPath, args: ['-e', ''], env },
    ...(caBundle
      ? [
          {
            id: 'cliPath.nodeWithCaBundle',
            command: process.execPath,
            args: ['-e', ''],
            env: process.env,
          },
        ]
      : []),
  ];
  const times = calls.map(() => [] as number[]);
  for (let round = 0; round <= SPAWNS; round++) {
    for (let i = 0; i < calls.length; i++) {
      const { command, args, env } = calls[i]!;
      const ms = await timeOneCall(command, args, env);
      if (round > 0) times[i]!.push(ms);
    }
  }
  const medianOf = (i: number) => Math.round(median(times[i]!));
  const minOf = (i: number) => Math.round(Math.min(...times[i]!));
  const rows = calls.slice(0, 2).map((call, i) =>
    absoluteResult({
      id: call.id,
      title: call.title!,
      unit: 'ms',
      value: medianOf(i),
      target: call.target!,
      details: { spawnsMs: times[i]!.map(Math.round), minMs: minOf(i) },
      note: `median of ${SPAWNS} spawns (min ${minOf(i)}); node_modules/.bin/loopgate, the bundle \`pnpm install\` builds${caBundle ? '; run without NODE_EXTRA_CA_CERTS (the bare `node` row)' : ''}`,
    }),
  );
  rows.push(
    absoluteResult({
      id: 'cliPath.nodeItself',
      title: "bare `node -e ''` (spawn → exit): the floor under the rows above",
      unit: 'ms',
      value: medianOf(2),
      details: { spawnsMs: times[2]!.map(Math.round), minMs: minOf(2) },
      note: caBundle
        ? `median of ${SPAWNS} spawns (min ${minOf(2)}); this environment sets NODE_EXTRA_CA_CERTS, which node parses as it starts: ${medianOf(3)} ms with it (min ${minOf(3)}); the user-path rows run without it, as on a stock machine`
        : `median of ${SPAWNS} spawns (min ${minOf(2)})`,
    }),
  );
  return rows;
}
