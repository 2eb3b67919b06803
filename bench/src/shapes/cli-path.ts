import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from '../child.js';
import type { BenchContext } from '../context.js';
import { type AbsoluteResult, absoluteResult } from '../results.js';
import { median } from '../stats.js';

/** The command `pnpm install` links and the README puts on PATH (a pnpm shell shim → apps/cli/bin). */
export const LOOPGATE_BIN = join(REPO_ROOT, 'node_modules', '.bin', 'loopgate');
const SPAWNS = 7;

/** Times one `loopgate …` from spawn to exit; a non-zero exit fails the row. */
function timeOneCall(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(LOOPGATE_BIN, args, {
      cwd: REPO_ROOT,
      env: { ...process.env, NO_COLOR: '1', ...env },
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
      else reject(new Error(`loopgate ${args.join(' ')} exited ${code}: ${stderr.slice(-500)}`));
    });
  });
}

/**
 * The user's path: `loopgate --version` and `loopgate health` as a shell
 * runs them after the README's set-up (node_modules/.bin/loopgate, the
 * bundle the postinstall built), spawn to exit, against the bench gateway.
 * One unrecorded warm-up each (page cache; it also rebuilds a stale bundle).
 */
export async function cliPathShapes(ctx: BenchContext): Promise<AbsoluteResult[]> {
  const env = { LOOPGATE_GATEWAY_TOKEN: ctx.target.token };
  const calls = [
    {
      id: 'cliPath.version',
      title: '`loopgate --version` (spawn → exit)',
      args: ['--version'],
      target: 200,
    },
    {
      id: 'cliPath.health',
      title: '`loopgate health` against a running gateway (spawn → exit)',
      args: ['health', '--url', ctx.target.url],
      target: 300,
    },
  ];
  const times = calls.map(() => [] as number[]);
  for (let round = 0; round <= SPAWNS; round++) {
    for (let i = 0; i < calls.length; i++) {
      const ms = await timeOneCall(calls[i]!.args, env);
      if (round > 0) times[i]!.push(ms);
    }
  }
  return calls.map((call, i) =>
    absoluteResult({
      id: call.id,
      title: call.title,
      unit: 'ms',
      value: Math.round(median(times[i]!)),
      target: call.target,
      details: { spawnsMs: times[i]!.map(Math.round), minMs: Math.round(Math.min(...times[i]!)) },
      note: `median of ${SPAWNS} spawns (min ${Math.round(Math.min(...times[i]!))}); node_modules/.bin/loopgate, the bundle \`pnpm install\` builds`,
    }),
  );
}
