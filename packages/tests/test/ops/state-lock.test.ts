import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstat, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { createGateway, readStateLock, StateLockedError } from '@loopgate/gateway';
import { LOOPGATE_VERSION } from '@loopgate/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import {
  killChildren,
  makeTempDir,
  runCli,
  spawnCli,
  waitFor,
  waitForOutput,
} from '../../src/index.js';

type Entry = { ino: number; mtimeMs: number; size: number; sha256?: string };

/** Every file and folder below `dir`: inode, mtime, size and (files) content hash. */
async function snapshot(dir: string, into = new Map<string, Entry>()): Promise<Map<string, Entry>> {
  for (const name of await readdir(dir)) {
    const path = join(dir, name);
    const info = await lstat(path);
    const entry: Entry = { ino: info.ino, mtimeMs: info.mtimeMs, size: info.size };
    if (info.isFile())
      entry.sha256 = createHash('sha256')
        .update(await readFile(path))
        .digest('hex');
    into.set(path, entry);
    if (info.isDirectory()) await snapshot(path, into);
  }
  const self = await lstat(dir);
  into.set(dir, { ino: self.ino, mtimeMs: self.mtimeMs, size: self.size });
  return into;
}

const children: ChildProcess[] = [];
const dirs: string[] = [];

afterEach(async () => {
  await killChildren(children);
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

async function tempHome(): Promise<{ env: NodeJS.ProcessEnv; stateDir: string }> {
  const root = await makeTempDir('loopgate-lock-');
  dirs.push(root);
  const stateDir = join(root, 'state');
  await mkdir(join(root, 'home'));
  return { stateDir, env: { HOME: join(root, 'home'), LOOPGATE_STATE_DIR: stateDir } };
}

/** `loopgate gateway run` in the background; resolves once it listens. */
async function runGateway(env: NodeJS.ProcessEnv, args: string[] = []) {
  const child = spawnCli(['gateway', 'run', '--port', '0', ...args], { env });
  children.push(child);
  const out = await waitForOutput(child, (t) => /listening on ws:\/\/127\.0\.0\.1:\d+/.test(t), {
    timeoutMs: 30_000,
  });
  const port = Number(/127\.0\.0\.1:(\d+)/.exec(out)![1]);
  return { child, port, url: `ws://127.0.0.1:${port}` };
}

function exited(child: ChildProcess): Promise<{ code: number | null; signal: string | null }> {
  if (child.exitCode !== null || child.signalCode !== null)
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((r) => child.once('exit', (code, signal) => r({ code, signal })));
}

const eventSeqs = async (stateDir: string): Promise<number[]> =>
  (await readFile(join(stateDir, 'events.jsonl'), 'utf8'))
    .split('\n')
    .filter(Boolean)
    .map((line) => (JSON.parse(line) as { seq: number }).seq);

describe('a second gateway on a state dir that a running gateway holds', () => {
  it('second gateway run / start / createGateway().start() on a locked state dir exit 2 naming the holder, change no byte, and the first keeps logging events', async () => {
    const { env, stateDir } = await tempHome();
    const first = await runGateway(env);
    // Durable events in the log before the attempts, so a rewrite would show.
    expect((await runCli(['health', '--url', first.url], { env })).code).toBe(0);
    await waitFor(async () => (await eventSeqs(stateDir)).length >= 3, { what: 'events logged' });
    const before = await snapshot(stateDir);
    const seqsBefore = await eventSeqs(stateDir);

    const attempts = [
      ['gateway', 'run', '--port', '0'],
      // The original failure: the same port, which used to be reported only after the state was rewritten.
      ['gateway', 'run', '--port', String(first.port)],
      ['start', '--no-dashboard', '--port', '0'],
    ];
    for (const args of attempts) {
      const second = await runCli(args, { env, timeoutMs: 30_000 });
      expect(second.code, `${args.join(' ')}: ${second.stderr}`).toBe(2);
      expect(second.stdout).toBe('');
      const lines = second.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain(`pid ${first.child.pid}`);
      expect(lines[0]).toContain(`port ${first.port}`);
      expect(lines[0]).toContain(stateDir);
      expect(lines[0]).toMatch(/stop it first .*or give this one another state dir/);
    }
    const inProcess = createGateway(
      { gateway: { port: 0 }, logging: { level: 'silent' } },
      { stateDir },
    );
    const refused = await inProcess.start().then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(refused).toBeInstanceOf(StateLockedError);
    expect((refused as StateLockedError).status).toMatchObject({
      state: 'held',
      holder: { pid: first.child.pid, port: first.port },
    });

    expect(await snapshot(stateDir)).toEqual(before);

    // The first gateway's log file is still the live one: new durable events land in it, in order.
    expect((await runCli(['health', '--url', first.url], { env })).code).toBe(0);
    const after = await waitFor(
      async () => {
        const seqs = await eventSeqs(stateDir);
        return seqs.length > seqsBefore.length ? seqs : undefined;
      },
      { what: 'new events in events.jsonl' },
    );
    expect(after.slice(0, seqsBefore.length)).toEqual(seqsBefore);
    expect(after.slice(seqsBefore.length).every((s) => s > Math.max(...seqsBefore))).toBe(true);
    expect((await lstat(join(stateDir, 'events.jsonl'))).ino).toBe(
      before.get(join(stateDir, 'events.jsonl'))!.ino,
    );
  }, 120_000);

  it('SIGTERM releases the lock; a SIGKILLed gateway leaves a stale lock that the next gateway takes over', async () => {
    const { env, stateDir } = await tempHome();
    const first = await runGateway(env);
    const held = await readStateLock(stateDir);
    expect(held).toMatchObject({
      state: 'held',
      holder: { pid: first.child.pid, port: first.port, url: first.url, version: LOOPGATE_VERSION },
    });

    first.child.kill('SIGKILL');
    await exited(first.child);
    const stale = await readStateLock(stateDir);
    expect(stale).toMatchObject({ state: 'stale', holder: { pid: first.child.pid } });

    const second = await runGateway(env, ['--verbose']);
    expect(await readStateLock(stateDir)).toMatchObject({
      state: 'held',
      holder: { pid: second.child.pid, port: second.port },
    });
    second.child.kill('SIGTERM');
    expect(await exited(second.child)).toEqual({ code: 0, signal: null });
    expect(await readStateLock(stateDir)).toEqual({
      state: 'free',
      path: join(stateDir, 'gateway.lock'),
    });
  }, 120_000);

  it('a SIGTERM that arrives while the gateway starts (lock already held) stops it gracefully: exit 0, lock released', async () => {
    const { env, stateDir } = await tempHome();
    const child = spawnCli(['gateway', 'run', '--port', '0'], { env });
    children.push(child);
    // The first moment the lock is held is inside start(), before it prints that it listens.
    await waitFor(
      async () => ((await readStateLock(stateDir)).state === 'held' ? true : undefined),
      {
        what: 'the gateway to take the state-dir lock',
        intervalMs: 1,
        timeoutMs: 30_000,
      },
    );
    child.kill('SIGTERM');
    expect(await exited(child)).toEqual({ code: 0, signal: null });
    expect(await readStateLock(stateDir)).toEqual({
      state: 'free',
      path: join(stateDir, 'gateway.lock'),
    });
  }, 120_000);
});

describe('state-dir lock liveness', () => {
  it('a lock whose pid now belongs to another process (pid reuse) is stale and taken over', async () => {
    const { stateDir } = await tempHome();
    await mkdir(stateDir, { recursive: true });
    // A live process that is not the lock's writer: same pid, another start time.
    const bystander = spawn('sleep', ['30']);
    children.push(bystander);
    await writeFile(
      join(stateDir, 'gateway.lock'),
      JSON.stringify({
        id: 'x',
        pid: bystander.pid,
        port: 1,
        startedAt: Date.now() - 60_000,
        version: LOOPGATE_VERSION,
        host: hostname(),
        startTicks: '1',
      }),
    );
    const status = await readStateLock(stateDir);
    expect(status).toMatchObject({
      state: 'stale',
      reason: `pid ${bystander.pid} now belongs to another process`,
    });
    const gateway = createGateway(
      { gateway: { port: 0 }, logging: { level: 'silent' } },
      { stateDir },
    );
    await gateway.start();
    try {
      expect(await readStateLock(stateDir)).toMatchObject({
        state: 'held',
        holder: { pid: process.pid, port: gateway.port },
      });
    } finally {
      await gateway.stop();
    }
    expect((await readStateLock(stateDir)).state).toBe('free');
  });

  it('two gateways in one process on one state dir: the second is refused until the first stops', async () => {
    const { stateDir } = await tempHome();
    const config = { gateway: { port: 0 }, logging: { level: 'silent' as const } };
    const a = createGateway(config, { stateDir });
    await a.start();
    const b = createGateway(config, { stateDir });
    await expect(b.start()).rejects.toThrow(/a gateway already runs on state dir/);
    await a.stop();
    await b.start();
    expect(await readStateLock(stateDir)).toMatchObject({
      state: 'held',
      holder: { pid: process.pid, port: b.port },
    });
    await b.stop();
  });

  it('a lock file that is not a Loopgate lock is never taken over: the start fails naming the file', async () => {
    const { stateDir } = await tempHome();
    await mkdir(stateDir, { recursive: true });
    await writeFile(join(stateDir, 'gateway.lock'), 'garbage');
    const gateway = createGateway(
      { gateway: { port: 0 }, logging: { level: 'silent' } },
      { stateDir },
    );
    await expect(gateway.start()).rejects.toThrow(
      `cannot be read (not a Loopgate lock file): if no gateway runs on it, remove ${join(stateDir, 'gateway.lock')}`,
    );
    expect(await readFile(join(stateDir, 'gateway.lock'), 'utf8')).toBe('garbage');
  });
});
