import { spawn } from 'node:child_process';
import { REPO_ROOT } from '../child.js';
import type { BenchContext } from '../context.js';
import { type AbsoluteResult, absoluteResult } from '../results.js';
import { median } from '../stats.js';
import { LOOPGATE_BIN, USER_PATH_SPAWNS as SPAWNS, userPathEnv } from './user-path.js';

type Spawn = { command: string; args: string[]; env: NodeJS.ProcessEnv };

/** Times one command from spawn to exit; a non-zero exit fails the row. */
function timeOneCall({ command, args, env }: Spawn): Promise<number> {
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
 * Times each spawn SPAWNS times, interleaved (a, b, c, a, b, c, …) so drift
 * hits them alike, after one unrecorded round (page cache; it also rebuilds a
 * stale bundle).
 */
async function timeInterleaved(spawns: Spawn[]): Promise<number[][]> {
  const times = spawns.map(() => [] as number[]);
  for (let round = 0; round <= SPAWNS; round++) {
    for (const [i, one] of spawns.entries()) {
      const ms = await timeOneCall(one);
      if (round > 0) times[i]!.push(ms);
    }
  }
  return times;
}

const medianOf = (times: number[]) => Math.round(median(times));
const minOf = (times: number[]) => Math.round(Math.min(...times));

/**
 * The user's path: `loopgate --version` and `loopgate health` as a shell
 * runs them after the README's set-up (node_modules/.bin/loopgate, the
 * bundle the postinstall built), spawn to exit, against the bench gateway;
 * and a bare `node -e ''`, the floor under both.
 */
export async function cliPathShapes(ctx: BenchContext): Promise<AbsoluteResult[]> {
  const env = userPathEnv({ NO_COLOR: '1', LOOPGATE_GATEWAY_TOKEN: ctx.target.token });
  const caBundle = process.env.NODE_EXTRA_CA_CERTS;
  const calls = [
    {
      id: 'cliPath.version',
      title: '`loopgate --version` (spawn → exit)',
      spawn: { command: LOOPGATE_BIN, args: ['--version'], env },
      target: 200,
    },
    {
      id: 'cliPath.health',
      title: '`loopgate health` against a running gateway (spawn → exit)',
      spawn: { command: LOOPGATE_BIN, args: ['health', '--url', ctx.target.url], env },
      target: 300,
    },
  ];
  const bareNode = { command: process.execPath, args: ['-e', ''], env };
  const [nodeTimes, nodeWithCaTimes, ...callTimes] = await timeInterleaved([
    bareNode,
    // what this environment's own node costs, for the note; the rows run without it
    { ...bareNode, env: process.env },
    ...calls.map((call) => call.spawn),
  ]);
  const rows = calls.map((call, i) =>
    absoluteResult({
      id: call.id,
      title: call.title,
      unit: 'ms',
      value: medianOf(callTimes[i]!),
      target: call.target,
      details: { spawnsMs: callTimes[i]!.map(Math.round), minMs: minOf(callTimes[i]!) },
      note: `median of ${SPAWNS} spawns (min ${minOf(callTimes[i]!)}); node_modules/.bin/loopgate, the bundle \`pnpm install\` builds${caBundle ? '; run without NODE_EXTRA_CA_CERTS (the bare `node` row)' : ''}`,
    }),
  );
  rows.push(
    absoluteResult({
      id: 'cliPath.nodeItself',
      title: "bare `node -e ''` (spawn → exit): the floor under the rows above",
      unit: 'ms',
      value: medianOf(nodeTimes!),
      details: { spawnsMs: nodeTimes!.map(Math.round), minMs: minOf(nodeTimes!) },
      note: caBundle
        ? `median of ${SPAWNS} spawns (min ${minOf(nodeTimes!)}); this environment sets NODE_EXTRA_CA_CERTS, which node parses as it starts: ${medianOf(nodeWithCaTimes!)} ms with it (min ${minOf(nodeWithCaTimes!)}); the user-path rows run without it, as on a stock machine`
        : `median of ${SPAWNS} spawns (min ${minOf(nodeTimes!)})`,
    }),
  );
  return rows;
}
