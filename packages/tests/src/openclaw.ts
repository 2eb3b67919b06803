import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import type { RealPart } from './real-parts.js';

/** Where `.ci/install-openclaw.sh` put OpenClaw and the Node 24 it runs on. */
export type OpenClawInstall = {
  node: string;
  openclaw: string;
  nodeVersion: string;
  openclawVersion: string;
};

export function openClawCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.LOOPGATE_OPENCLAW_CACHE ?? join(homedir(), '.cache', 'loopgate-openclaw');
}

/** The install `.ci/install-openclaw.sh` recorded in `<cache>/current.json`, or why there is none. */
export function findOpenClaw(): RealPart & { install?: OpenClawInstall } {
  const record = join(openClawCacheDir(), 'current.json');
  const hint = 'run .ci/install-openclaw.sh (installs node@24 and openclaw with npm)';
  if (!existsSync(record)) return { available: false, reason: `no ${record}: ${hint}` };
  let install: OpenClawInstall;
  try {
    install = JSON.parse(readFileSync(record, 'utf8')) as OpenClawInstall;
  } catch (error) {
    return { available: false, reason: `${record} is unreadable (${String(error)}): ${hint}` };
  }
  for (const file of [install.node, install.openclaw]) {
    if (typeof file !== 'string' || !existsSync(file))
      return { available: false, reason: `${String(file)} is missing: ${hint}` };
  }
  return { available: true, install };
}

/**
 * Runs the real `openclaw` CLI on its Node, with its own HOME, state dir and
 * log file (so nothing of the developer's OpenClaw is read or written, and
 * nothing lands in /tmp/openclaw) and its automatic updates off.
 */
export function spawnOpenClaw(
  install: OpenClawInstall,
  args: string[],
  home: string,
  env: NodeJS.ProcessEnv = {},
): ChildProcess {
  // Its log goes to /tmp/openclaw unless its config names a file: keep it in `home` too.
  const stateDir = join(home, '.openclaw');
  const config = join(stateDir, 'openclaw.json');
  if (!existsSync(config)) {
    mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    writeFileSync(config, JSON.stringify({ logging: { file: join(home, 'openclaw.log') } }), {
      mode: 0o600,
    });
  }
  return spawn(install.node, [install.openclaw, ...args], {
    cwd: home,
    env: {
      PATH: `${dirname(install.node)}:${process.env.PATH ?? ''}`,
      HOME: home,
      OPENCLAW_STATE_DIR: stateDir,
      OPENCLAW_NO_AUTO_UPDATE: '1',
      NO_COLOR: '1',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}
