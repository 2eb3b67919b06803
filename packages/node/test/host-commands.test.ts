import { mkdir, mkdtemp, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type CommandContext, type NodeCommands, runCommand } from '../src/commands.js';
import { createHostCommands, type Notification } from '../src/host/index.js';

let dir: string;
let shared: string;
let notified: Notification[];

beforeEach(async () => {
  dir = await realpath(await mkdtemp(join(tmpdir(), 'lg-host-')));
  shared = join(dir, 'shared');
  await mkdir(shared);
  await writeFile(join(shared, 'hello.txt'), 'hello world');
  await writeFile(join(dir, 'secret.txt'), 'do not read');
  notified = [];
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function context(signal = new AbortController().signal): CommandContext {
  return {
    signal,
    invocationId: 'inv',
    command: 'c',
    deadline: Date.now() + 60_000,
    progress: () => {},
  };
}

async function call(
  commands: NodeCommands,
  command: string,
  params?: unknown,
  signal?: AbortSignal,
) {
  const result = await runCommand(
    commands,
    { invocationId: 'inv', command, params },
    context(signal),
    {
      maxResultBytes: 4 * 1024 * 1024,
    },
  );
  if (!result) throw new Error('cancelled');
  return result;
}

async function host(
  options: {
    roots?: string[];
    allow?: string[];
    maxBytes?: number;
    timeoutMs?: number;
    maxOutputBytes?: number;
  } = {},
) {
  return createHostCommands({
    nodeName: 'box',
    fs: { roots: options.roots ?? [], ...(options.maxBytes ? { maxBytes: options.maxBytes } : {}) },
    run: {
      allow: options.allow ?? [],
      ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}),
      ...(options.maxOutputBytes ? { maxOutputBytes: options.maxOutputBytes } : {}),
    },
    notify: (n) => notified.push(n),
  });
}

describe('default host commands', () => {
  it('offers system.info and system.notify, and neither fs.read nor system.run unless configured', async () => {
    const { commands, disabled } = await host();
    expect(Object.keys(commands).sort()).toEqual(['system.info', 'system.notify']);
    expect(disabled.join(' ')).toMatch(/fs\.read.*system\.run/);
    const info = await call(commands, 'system.info');
    expect(info).toMatchObject({
      ok: true,
      payload: {
        node: 'box',
        os: { platform: process.platform },
        memory: { totalBytes: expect.any(Number) },
      },
    });
    expect(await call(commands, 'system.notify', { title: 'hi', message: 'there' })).toMatchObject({
      ok: true,
    });
    expect(notified).toEqual([{ title: 'hi', message: 'there', level: 'info' }]);
    expect(await call(commands, 'system.notify', {})).toMatchObject({
      ok: false,
      error: { code: 'BAD_REQUEST' },
    });
  });

  it('fs.read reads inside the roots, absolute or relative to the first root', async () => {
    const { commands } = await host({ roots: [shared] });
    expect(await call(commands, 'fs.read', { path: join(shared, 'hello.txt') })).toMatchObject({
      ok: true,
      payload: { content: 'hello world', size: 11, eof: true },
    });
    expect(
      await call(commands, 'fs.read', {
        path: 'hello.txt',
        encoding: 'base64',
        offset: 6,
        length: 5,
      }),
    ).toMatchObject({
      ok: true,
      payload: { content: Buffer.from('world').toString('base64'), bytesRead: 5 },
    });
  });

  it('fs.read refuses paths outside the roots, traversal and symlinks that lead out', async () => {
    const { commands } = await host({ roots: [shared] });
    await symlink(join(dir, 'secret.txt'), join(shared, 'link.txt'));
    for (const path of [join(dir, 'secret.txt'), '../secret.txt', 'link.txt', '/etc/passwd']) {
      const result = await call(commands, 'fs.read', { path });
      expect(result, path).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } });
      expect(JSON.stringify(result)).not.toContain('do not read');
    }
    expect(await call(commands, 'fs.read', { path: 'missing.txt' })).toMatchObject({
      ok: false,
      error: { code: 'NOT_FOUND' },
    });
    expect(await call(commands, 'fs.read', { path: '.' })).toMatchObject({
      ok: false,
      error: { code: 'BAD_REQUEST' },
    });
  });

  it('fs.read caps the size of one read', async () => {
    await writeFile(join(shared, 'big.bin'), Buffer.alloc(100, 1));
    const { commands } = await host({ roots: [shared], maxBytes: 64 });
    expect(await call(commands, 'fs.read', { path: 'big.bin' })).toMatchObject({
      ok: false,
      error: { code: 'PAYLOAD_TOO_LARGE', details: { size: 100, limit: 64 } },
    });
    expect(await call(commands, 'fs.read', { path: 'big.bin', length: 1_000 })).toMatchObject({
      ok: true,
      payload: { bytesRead: 64, eof: false },
    });
  });

  it('refuses to start with a root that does not exist', async () => {
    await expect(host({ roots: [join(dir, 'nope')] })).rejects.toThrow(/does not exist/);
  });

  it('system.run runs an allowlisted executable without a shell and returns its exit code', async () => {
    const { commands } = await host({ allow: ['sh', 'echo'], roots: [shared] });
    const echoed = await call(commands, 'system.run', {
      command: 'echo',
      args: ['$HOME', '; ls', '*'],
    });
    // no shell: nothing was expanded or chained
    expect(echoed).toMatchObject({
      ok: true,
      payload: { exitCode: 0, stdout: '$HOME ; ls *\n', truncated: false },
    });
    const failed = await call(commands, 'system.run', {
      command: 'sh',
      args: ['-c', 'echo oops >&2; exit 3'],
    });
    expect(failed).toMatchObject({ ok: true, payload: { exitCode: 3, stderr: 'oops\n' } });
    const inShared = await call(commands, 'system.run', {
      command: 'sh',
      args: ['-c', 'cat hello.txt'],
      cwd: shared,
    });
    expect(inShared).toMatchObject({ ok: true, payload: { stdout: 'hello world' } });
    expect(
      await call(commands, 'system.run', { command: 'sh', args: ['-c', 'pwd'], cwd: dir }),
    ).toMatchObject({
      ok: false,
      error: { code: 'FORBIDDEN' },
    });
  });

  it('system.run refuses executables not on the allowlist', async () => {
    const { commands } = await host({ allow: ['echo'] });
    for (const command of ['sh', '/bin/sh', 'rm']) {
      expect(
        await call(commands, 'system.run', { command, args: ['-c', 'true'] }),
        command,
      ).toMatchObject({
        ok: false,
        error: { code: 'FORBIDDEN' },
      });
    }
  });

  it('system.run enforces its timeout and output cap by killing the process', async () => {
    const { commands } = await host({
      allow: ['sh', 'yes'],
      timeoutMs: 200,
      maxOutputBytes: 1_000,
    });
    const slow = await call(commands, 'system.run', { command: 'sh', args: ['-c', 'sleep 30'] });
    expect(slow).toMatchObject({ ok: true, payload: { timedOut: true, signal: 'SIGKILL' } });
    const loud = await call(commands, 'system.run', { command: 'yes' });
    expect(loud).toMatchObject({ ok: true, payload: { truncated: true } });
    expect((loud as { payload: { stdout: string } }).payload.stdout.length).toBe(1_000);
  });

  it('system.run stops the process when the invocation is cancelled', async () => {
    const { commands } = await host({ allow: ['sh'] });
    const controller = new AbortController();
    const started = Date.now();
    const pending = runCommand(
      commands,
      {
        invocationId: 'inv',
        command: 'system.run',
        params: { command: 'sh', args: ['-c', 'sleep 30'] },
      },
      context(controller.signal),
      { maxResultBytes: 1_000_000 },
    );
    setTimeout(() => controller.abort(), 50);
    await expect(pending).resolves.toBeUndefined();
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('refuses to start with an allowlisted executable that does not exist', async () => {
    await expect(host({ allow: ['definitely-not-a-real-binary'] })).rejects.toThrow(/not found/);
  });
});
