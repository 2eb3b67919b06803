/**
 * A state dir someone else can write into. Whoever can write the directory
 * can plant what the gateway trusts: an `operator-tokens.json` holding their
 * own token (admin over every paired node), or a `logs/gateway.log` that is a
 * symlink to a file of the gateway's user. Real `loopgate gateway run`
 * processes on temp state dirs (row 58 of docs/hardening.md).
 */
import type { ChildProcess } from 'node:child_process';
import { chmod, chown, mkdir, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createOperatorToken, openOperatorSocket, resultData } from '../../src/hardening/index.js';
import {
  killChildren,
  makeTempDir,
  requireRealPart,
  runCli,
  spawnCli,
  startTestGateway,
  waitForOutput,
} from '../../src/index.js';

const children: ChildProcess[] = [];
const dirs: string[] = [];

afterEach(async () => {
  await killChildren(children);
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

/** An `operator-tokens.json` in the gateway's own format holding an admin token the intruder knows. */
async function intruderTokens(): Promise<{ file: string; token: string }> {
  const gw = await startTestGateway();
  try {
    const token = await createOperatorToken(gw.url, gw.token, 'intruder', 'operator.admin');
    const file = await readFile(join(gw.stateDir, 'operator-tokens.json'), 'utf8');
    return { file, token };
  } finally {
    await gw.stop();
  }
}

/**
 * A state dir prepared as another local user could: their token planted,
 * the log a symlink to a file of the gateway's user (`victim.txt`).
 */
async function plantedStateDir(): Promise<{
  root: string;
  stateDir: string;
  victim: string;
  env: NodeJS.ProcessEnv;
  token: string;
}> {
  const root = await makeTempDir('loopgate-planted-');
  dirs.push(root);
  const stateDir = join(root, 'state');
  const victim = join(root, 'victim.txt');
  await mkdir(join(root, 'home'));
  await mkdir(join(stateDir, 'logs'), { recursive: true });
  await writeFile(victim, 'the user’s own file\n');
  const { file, token } = await intruderTokens();
  await writeFile(join(stateDir, 'operator-tokens.json'), file, { mode: 0o644 });
  await symlink(victim, join(stateDir, 'logs', 'gateway.log'));
  return {
    root,
    stateDir,
    victim,
    token,
    env: { HOME: join(root, 'home'), LOOPGATE_STATE_DIR: stateDir },
  };
}

/** Starts `loopgate gateway run`; resolves with its exit if it refuses, or its URL if it listens. */
async function startOn(
  env: NodeJS.ProcessEnv,
): Promise<{ listening: string } | { code: number | null; stderr: string }> {
  const child = spawnCli(['gateway', 'run', '--port', '0'], { env });
  children.push(child);
  let stderr = '';
  child.stderr?.on('data', (d) => {
    stderr += d;
  });
  const exited = new Promise<{ code: number | null; stderr: string }>((resolve) =>
    child.once('exit', (code) => resolve({ code, stderr })),
  );
  const listening = waitForOutput(child, (t) => /listening on ws:\/\/127\.0\.0\.1:\d+/.test(t), {
    timeoutMs: 30_000,
  }).then((out) => ({ listening: `ws://127.0.0.1:${/127\.0\.0\.1:(\d+)/.exec(out)![1]}` }));
  return Promise.race([listening, exited]);
}

/** What the planted token gets on a gateway that started anyway (for the failure message). */
async function intruderRole(url: string, token: string): Promise<string> {
  const socket = await openOperatorSocket(url, token);
  try {
    const frame = await socket.call(1, 'whoami');
    return frame.error
      ? `refused ${frame.error.json.data.gatewayCode}`
      : resultData<{ principal: string }>(frame).principal;
  } finally {
    socket.ws.close();
  }
}

async function expectRefused(
  env: NodeJS.ProcessEnv,
  planted: { stateDir: string; victim: string; token: string },
  reason: RegExp,
): Promise<void> {
  const started = await startOn(env);
  if ('listening' in started) {
    const role = await intruderRole(started.listening, planted.token);
    throw new Error(
      `the gateway started on the planted state dir; the planted token is ${role}, and ${planted.victim} now holds: ${await readFile(planted.victim, 'utf8')}`,
    );
  }
  expect(started.code).toBe(2);
  expect(started.stderr).toMatch(reason);
  expect(started.stderr).toContain(planted.stateDir);
  expect(await readFile(planted.victim, 'utf8')).toBe('the user’s own file\n');
  // nothing of the gateway's own was written there: no lock, no generated token
  expect((await readdir(planted.stateDir)).sort()).toEqual(['logs', 'operator-tokens.json']);
}

describe('a state dir other users can write', () => {
  it('row 58: a state dir every user may write (mode 0777) is refused: exit 2 naming it, the planted token never admitted, nothing written through the planted log symlink', async () => {
    const planted = await plantedStateDir();
    await chmod(planted.stateDir, 0o777);
    await expectRefused(planted.env, planted, /writable by other users.*chmod 700/s);
  });

  it('row 58: a state dir its group may write (mode 0770) is refused too', async () => {
    const planted = await plantedStateDir();
    await chmod(planted.stateDir, 0o770);
    await expectRefused(planted.env, planted, /writable by other users/);
  });

  it('row 58: a state dir another user owns (even mode 0700) is refused, naming its owner', async (context) => {
    const root = process.getuid?.() === 0;
    requireRealPart(
      'root (to give the state dir to another user)',
      root ? { available: true } : { available: false, reason: 'the tests do not run as root' },
      context,
    );
    const planted = await plantedStateDir();
    await chmod(planted.stateDir, 0o700);
    await chown(planted.stateDir, 65_534, 65_534);
    await expectRefused(planted.env, planted, /belongs to uid 65534/);
  });

  it('row 58: the gateway’s own state dir (0700, created by it) still starts, and a later run on it too', async () => {
    const root = await makeTempDir('loopgate-own-');
    dirs.push(root);
    await mkdir(join(root, 'home'));
    const env = { HOME: join(root, 'home'), LOOPGATE_STATE_DIR: join(root, 'state') };
    for (let run = 0; run < 2; run++) {
      const started = await startOn(env);
      expect(started, JSON.stringify(started)).toHaveProperty('listening');
      const stopped = await runCli(['gateway', 'stop'], { env });
      expect(stopped.code, stopped.stderr).toBe(0);
      const child = children.pop()!;
      if (child.exitCode === null) await new Promise((r) => child.once('exit', r));
    }
  });
});
