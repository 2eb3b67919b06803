import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { readStateLock } from '@loopgate/gateway';
import { DEFAULT_PORT, LOOPGATE_VERSION, profilePort } from '@loopgate/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { killLockHolders, makeTempDir, runCli, spawnCli, waitForOutput } from '../../src/index.js';

const children: ChildProcess[] = [];
const dirs: string[] = [];
/** State dirs whose lock holder (possibly started detached by `restart`) must not outlive the test. */
const stateDirs: string[] = [];

afterEach(async () => {
  await killLockHolders(stateDirs.splice(0));
  for (const child of children.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

/** Whether nothing listens on 127.0.0.1:`port` right now (the developer's own gateway may). */
async function portIsFree(port: number): Promise<boolean> {
  const server = createServer();
  return new Promise((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

async function tempBase() {
  const root = await makeTempDir('loopgate-profiles-');
  dirs.push(root);
  await mkdir(join(root, 'home'));
  const base = join(root, 'state');
  return { base, env: { HOME: join(root, 'home'), LOOPGATE_STATE_DIR: base } };
}

/** A profile name of this run: derived ports of fixed names could meet another run's. */
const profileName = (prefix: string) => `${prefix}-${randomBytes(4).toString('hex')}`;

async function runProfileGateway(env: NodeJS.ProcessEnv, args: string[]) {
  const child = spawnCli(args, { env });
  children.push(child);
  // The startup block ends with the logs line; the state dir is printed just before it.
  const out = await waitForOutput(child, (t) => /listening on[\s\S]*\nlogs: /.test(t), {
    timeoutMs: 30_000,
  });
  return { child, out, port: Number(/127\.0\.0\.1:(\d+)/.exec(out)![1]) };
}

describe('profiles: isolated gateways on one host', () => {
  it('derives each profile port from its name (20000–29999, never 18789), the same on every call', () => {
    for (const name of ['a', 'work', 'home-lab', 'x'.repeat(32)]) {
      const port = profilePort(name);
      expect(port).toBeGreaterThanOrEqual(20_000);
      expect(port).toBeLessThan(30_000);
      expect(port).not.toBe(DEFAULT_PORT);
      expect(profilePort(name)).toBe(port);
    }
    expect(profilePort('work')).not.toBe(profilePort('home'));
  });

  it('a bad profile name (flag or LOOPGATE_PROFILE) is a usage error, exit 2, before anything is touched', async () => {
    const { env, base } = await tempBase();
    for (const [args, extra, source] of [
      [['--profile', '../etc', 'health'], {}, '--profile'],
      [['health', '--profile', 'Upper'], {}, '--profile'],
      [['gateway', 'run'], { LOOPGATE_PROFILE: 'a_b' }, 'LOOPGATE_PROFILE'],
    ] as const) {
      const result = await runCli([...args], { env: { ...env, ...extra } });
      expect(result.code, result.stderr).toBe(2);
      expect(result.stderr.trim()).toMatch(
        new RegExp(`^loopgate: ${source.replace('-', '\\-')}: invalid profile name`),
      );
    }
    await expect(readFile(join(base, 'gateway-token'))).rejects.toThrow(/ENOENT/);
  }, 60_000);

  it('two profiles run side by side (own state dir, token, lock, derived port); restarting, stopping and breaking one never touches the other', async () => {
    const { env, base } = await tempBase();
    const defaultPortWasFree = await portIsFree(DEFAULT_PORT);
    const [a, b] = [profileName('ops-a'), profileName('ops-b')];
    const dirA = join(base, 'profiles', a);
    const dirB = join(base, 'profiles', b);
    stateDirs.push(dirA, dirB);
    // The flag before the command, the flag after it, and the environment variable all select a profile.
    const gwA = await runProfileGateway(env, ['--profile', a, 'gateway', 'run']);
    const gwB = await runProfileGateway({ ...env, LOOPGATE_PROFILE: b }, ['gateway', 'run']);
    expect(gwA.port).toBe(profilePort(a));
    expect(gwB.port).toBe(profilePort(b));
    expect(gwA.out).toContain(`state: ${dirA}`);
    expect(gwB.out).toContain(`state: ${dirB}`);
    const tokenA = await readFile(join(dirA, 'gateway-token'), 'utf8');
    const tokenB = await readFile(join(dirB, 'gateway-token'), 'utf8');
    expect(tokenA).not.toBe(tokenB);
    expect(await readStateLock(dirA)).toMatchObject({
      state: 'held',
      holder: { pid: gwA.child.pid, port: gwA.port, version: LOOPGATE_VERSION, host: hostname() },
    });
    expect(await readStateLock(dirB)).toMatchObject({
      state: 'held',
      holder: { pid: gwB.child.pid, port: gwB.port },
    });

    // Clients find their profile's gateway and token with no --url.
    const healthB = await runCli(['health', '--json', '--profile', b], { env });
    expect(healthB.code, healthB.stderr).toBe(0);
    const uptimeB = (JSON.parse(healthB.stdout) as { uptimeMs: number }).uptimeMs;
    // Profile a's token does not open profile b's gateway.
    const crossed = await runCli(
      ['--profile', a, 'health', '--url', `ws://127.0.0.1:${gwB.port}`],
      {
        env,
      },
    );
    expect(crossed.code).toBe(1);
    expect(crossed.stderr).toContain('UNAUTHORIZED');

    const statusA = await runCli(['--profile', a, 'gateway', 'status'], { env });
    expect(statusA.code, statusA.stderr).toBe(0);
    expect(statusA.stdout.split('\n')[0]).toBe(
      `state dir ${dirA}: gateway pid ${gwA.child.pid} on port ${gwA.port}, up ${statusA.stdout.match(/up (\S+),/)![1]}, loopgate ${LOOPGATE_VERSION}`,
    );
    expect(statusA.stdout).toContain(`pid ${gwA.child.pid}`);

    // Restart a: returns once the new process answers health; b keeps its process and its uptime.
    const restarted = await runCli(['--profile', a, 'gateway', 'restart', '--json'], {
      env,
      timeoutMs: 60_000,
    });
    expect(restarted.code, restarted.stderr).toBe(0);
    const newA = JSON.parse(restarted.stdout) as { pid: number; port: number; restarted: boolean };
    expect(newA).toMatchObject({ restarted: true, port: profilePort(a) });
    expect(newA.pid).not.toBe(gwA.child.pid);
    expect(gwA.child.exitCode).toBe(0);
    expect(restarted.stderr).toContain(`stopped gateway pid ${gwA.child.pid}`);
    expect(await readStateLock(dirA)).toMatchObject({ state: 'held', holder: { pid: newA.pid } });
    expect(gwB.child.exitCode).toBeNull();
    const healthB2 = await runCli(['--profile', b, 'health', '--json'], { env });
    expect((JSON.parse(healthB2.stdout) as { uptimeMs: number }).uptimeMs).toBeGreaterThan(uptimeB);

    // Stop a: its lock goes, b still answers.
    const stopped = await runCli(['--profile', a, 'gateway', 'stop'], { env, timeoutMs: 30_000 });
    expect(stopped.code, stopped.stderr).toBe(0);
    expect(stopped.stdout.trim()).toBe(
      `stopped gateway pid ${newA.pid} on port ${profilePort(a)} (state dir ${dirA})`,
    );
    expect((await readStateLock(dirA)).state).toBe('free');
    expect((await runCli(['--profile', b, 'health'], { env })).code).toBe(0);
    const again = await runCli(['--profile', a, 'gateway', 'stop'], { env });
    expect(again).toMatchObject({ code: 0 });
    expect(again.stdout).toContain('no gateway runs on it (no lock)');

    // Break a's config: a refuses to start (exit 2, key path named); b is untouched.
    await writeFile(join(dirA, 'config.json5'), '{ gateway: { port: "nope" } }');
    const broken = await runCli(['--profile', a, 'gateway', 'run'], { env, timeoutMs: 30_000 });
    expect(broken.code).toBe(2);
    expect(broken.stderr).toContain('gateway.port');
    expect((await runCli(['--profile', b, 'health'], { env })).code).toBe(0);
    expect(await readStateLock(dirB)).toMatchObject({
      state: 'held',
      holder: { pid: gwB.child.pid },
    });

    // No profile: the base dir and the default port, untouched by either profile.
    await expect(readFile(join(base, 'gateway-token'))).rejects.toThrow(/ENOENT/);
    const statusDefault = await runCli(['gateway', 'status'], { env });
    expect(statusDefault.stdout.split('\n')[0]).toBe(
      `state dir ${base}: no gateway runs on it (no lock)`,
    );
    if (defaultPortWasFree) {
      // nothing answers there: exit 3, naming where it looked
      expect(statusDefault.code).toBe(3);
      expect(statusDefault.stderr).toContain(`127.0.0.1:${DEFAULT_PORT}`);
    } else {
      // a gateway from outside this test (the developer's own) holds the default port:
      // the probe reaches it and is refused, since this base dir has no token of its own
      expect(statusDefault.code).toBe(1);
      expect(statusDefault.stderr).toContain('UNAUTHORIZED');
    }
  }, 240_000);
});

describe('a profile whose derived port is taken by another program', () => {
  it('says the port was derived and how to set one, and leaves its state dir unlocked', async () => {
    const { env, base } = await tempBase();
    const name = profileName('ops-busy');
    const squatter = createServer();
    await new Promise<void>((r) => squatter.listen(profilePort(name), '127.0.0.1', r));
    try {
      const result = await runCli(['--profile', name, 'gateway', 'run'], {
        env,
        timeoutMs: 30_000,
      });
      expect(result.code).toBe(1);
      expect(result.stderr.trim()).toBe(
        `loopgate: port ${profilePort(name)} (derived from profile "${name}"; set gateway.port in its config) is already in use by another program or a gateway on another state dir — choose another with --port, or find it with: loopgate --url ws://127.0.0.1:${profilePort(name)} health`,
      );
      // The failed start released the lock it took: the next start is not refused.
      expect((await readStateLock(join(base, 'profiles', name))).state).toBe('free');
    } finally {
      await new Promise((r) => squatter.close(r));
    }
  }, 60_000);
});

describe('gateway stop', () => {
  it('a gateway that ignores SIGTERM: stop waits the bounded time, then says how to force it (exit 1)', async () => {
    const { env, base } = await tempBase();
    await mkdir(base, { recursive: true });
    const stubborn = spawn(process.execPath, [
      '-e',
      "process.on('SIGTERM', () => console.log('ignored')); setInterval(() => {}, 1000); console.log('ready')",
    ]);
    children.push(stubborn);
    await waitForOutput(stubborn, (t) => t.includes('ready'));
    await writeFile(
      join(base, 'gateway.lock'),
      JSON.stringify({
        id: 'stubborn',
        pid: stubborn.pid,
        port: 1,
        startedAt: Date.now(),
        version: LOOPGATE_VERSION,
        host: hostname(),
      }),
    );
    const ignored = waitForOutput(stubborn, (t) => t.includes('ignored'));
    const result = await runCli(['gateway', 'stop', '--timeout', '1'], { env });
    await ignored;
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`stopping gateway pid ${stubborn.pid} on port 1: SIGTERM sent`);
    expect(result.stderr).toContain(
      `gateway pid ${stubborn.pid} did not stop within 1 s of SIGTERM`,
    );
    expect(result.stderr).toContain(`kill -KILL ${stubborn.pid}`);
    expect(stubborn.exitCode).toBeNull();
  }, 60_000);

  it('after a SIGKILL, status and stop report the stale lock instead of signalling anyone', async () => {
    const { env, base } = await tempBase();
    stateDirs.push(base);
    const gw = await runProfileGateway(env, ['gateway', 'run', '--port', '0']);
    gw.child.kill('SIGKILL');
    await new Promise((r) => gw.child.once('exit', r));
    const status = await runCli(['gateway', 'status', '--url', 'ws://127.0.0.1:1'], { env });
    // An explicit --url is another gateway: no lock line for it.
    expect(status.stdout).not.toContain('state dir');
    const stop = await runCli(['gateway', 'stop'], { env });
    expect(stop.code).toBe(0);
    expect(stop.stdout.trim()).toBe(
      `state dir ${base}: no gateway runs on it (stale lock of pid ${gw.child.pid}: pid ${gw.child.pid} is gone; the next start takes it over)`,
    );
  }, 60_000);
});
