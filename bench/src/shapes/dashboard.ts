import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../child.js';
import type { BenchContext } from '../context.js';
import { type AbsoluteResult, absoluteResult } from '../results.js';
import { median } from '../stats.js';
import { LOOPGATE_BIN, USER_PATH_SPAWNS as SPAWNS, userPathEnv } from './user-path.js';

/** The gateway's version, which the header shows once `health` has answered. */
const LIVE = /v(?:ersion )?\d+\.\d+\.\d+/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: terminal escape sequences are what is being removed
const ANSI = /\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[()][0-9A-Za-z]|\x1b[=>78]/g;

/**
 * Spawns `loopgate tui` on a pseudo-terminal (`script`, since Ink needs a
 * TTY) against the bench gateway and times spawn → the first frame on the
 * terminal, and → the first frame showing the gateway's own answers.
 */
async function timeOneDashboard(
  loopgate: string,
  ctx: BenchContext,
): Promise<{ firstFrameMs: number; liveFrameMs: number }> {
  const stateDir = await mkdtemp(join(tmpdir(), 'loopgate-bench-tui-'));
  // The token goes in the environment, not argv, where any user's `ps` would see it.
  const command = `exec ${loopgate} tui --url ${ctx.target.url}`;
  const started = performance.now();
  const child = spawn('script', ['-q', '-e', '-c', command, '/dev/null'], {
    cwd: REPO_ROOT,
    env: userPathEnv({
      TERM: 'xterm-256color',
      COLUMNS: '120',
      LINES: '40',
      LOOPGATE_STATE_DIR: stateDir,
      LOOPGATE_GATEWAY_TOKEN: ctx.target.token,
    }),
    stdio: ['pipe', 'pipe', 'ignore'],
    detached: true,
  });
  try {
    return await new Promise((resolve, reject) => {
      let screen = '';
      let firstFrameMs: number | undefined;
      const timer = setTimeout(
        () =>
          reject(
            new Error(
              `the dashboard drew nothing live within 15 s; last screen: ${screen.slice(-400)}`,
            ),
          ),
        15_000,
      );
      child.stdout.on('data', (chunk: Buffer) => {
        // Ink paints with escape sequences between the words; match on the text.
        screen += chunk.toString().replace(ANSI, '');
        if (firstFrameMs === undefined && screen.includes('Overview'))
          firstFrameMs = performance.now() - started;
        if (firstFrameMs !== undefined && LIVE.test(screen)) {
          clearTimeout(timer);
          resolve({ firstFrameMs, liveFrameMs: performance.now() - started });
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`loopgate tui exited (${code}) before drawing`));
      });
    });
  } finally {
    if (child.pid !== undefined && child.exitCode === null) process.kill(-child.pid, 'SIGKILL');
    await rm(stateDir, { recursive: true, force: true });
  }
}

/**
 * `loopgate tui` as the README runs it (node_modules/.bin/loopgate, the
 * bundle `pnpm install` builds): spawn → first frame (≤ 1 s, round 1) and →
 * first frame showing the gateway's health (≤ 600 ms, round 2); and from its
 * `tsc -b` output when that exists (as last built, information).
 */
export async function dashboardShapes(ctx: BenchContext): Promise<AbsoluteResult[]> {
  if (spawnSync('script', ['--version']).status !== 0) {
    throw new Error('`script` (util-linux) is needed for a pseudo-terminal');
  }
  const builtCli = join(REPO_ROOT, 'apps/cli/dist/main.js');
  const variants = [
    { id: 'dashboard', how: 'node_modules/.bin/loopgate', loopgate: LOOPGATE_BIN, targets: true },
    ...(existsSync(builtCli)
      ? [
          {
            id: 'dashboard.cliBuilt',
            how: 'tsc -b output, as last built',
            loopgate: `node ${builtCli}`,
            targets: false,
          },
        ]
      : []),
  ];
  const results: AbsoluteResult[] = [];
  for (const v of variants) {
    await timeOneDashboard(v.loopgate, ctx); // warm-up: page cache
    const runs: { firstFrameMs: number; liveFrameMs: number }[] = [];
    for (let i = 0; i < SPAWNS; i++) runs.push(await timeOneDashboard(v.loopgate, ctx));
    const first = runs.map((r) => Math.round(r.firstFrameMs));
    const live = runs.map((r) => Math.round(r.liveFrameMs));
    const how = `median of ${SPAWNS} spawns; \`loopgate tui\` on a pty, ${v.how}`;
    results.push(
      absoluteResult({
        id: `${v.id}.firstFrame`,
        title: `dashboard: spawn → first frame (${v.how})`,
        unit: 'ms',
        value: median(first),
        ...(v.targets ? { target: 1_000 } : {}),
        details: { firstFrameMs: first },
        note: `${how} (min ${Math.min(...first)})`,
      }),
      absoluteResult({
        id: `${v.id}.liveFrame`,
        title: `dashboard: spawn → first frame showing the gateway's health (${v.how})`,
        unit: 'ms',
        value: median(live),
        ...(v.targets ? { target: 600 } : {}),
        details: { liveFrameMs: live },
        note: `${how} (min ${Math.min(...live)}); the gateway's version in the header is the sign`,
      }),
    );
  }
  return results;
}
