import { chmod, mkdir, mkdtemp, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CommandError } from '../src/commands.js';
import { resolveRoots } from '../src/host/fs-read.js';
import {
  type AllowedExecutable,
  resolveAllowlist,
  type SystemRunOptions,
  systemRunCommand,
} from '../src/host/system-run.js';

/**
 * `system.run` on its own, with real processes: how the allowlist is
 * resolved and matched, argv[0], the child's environment and working
 * directory, the timeout bound, the output cap at its edge, stdin, and a
 * start failure. The host wiring is host-commands.test.ts.
 */
let dir: string;
const PATH = '/usr/bin:/bin';

beforeEach(async () => {
  dir = await realpath(await mkdtemp(join(tmpdir(), 'lg-system-run-')));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function run(
  allowed: Map<string, AllowedExecutable>,
  params: Record<string, unknown>,
  options: Omit<SystemRunOptions, 'allow'> = {},
) {
  const command = systemRunCommand(allowed, { env: { PATH, HOME: dir }, ...options });
  const parsed = command.params?.safeParse(params);
  if (!parsed?.success) throw new Error('bad params');
  return command.run(parsed.data as never, { signal: new AbortController().signal } as never);
}

async function refusal(promise: Promise<unknown>) {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(CommandError);
  const { code, message, details } = error as CommandError;
  return { code, message, details };
}

describe('resolveAllowlist', () => {
  it('finds bare names on PATH (absolute entries only, executable files only) and takes paths as given', async () => {
    await mkdir(join(dir, 'a'));
    await mkdir(join(dir, 'b'));
    await writeFile(join(dir, 'a', 'tool'), '#!/bin/sh\n'); // not executable: skipped
    await writeFile(join(dir, 'b', 'tool'), '#!/bin/sh\necho b\n');
    await chmod(join(dir, 'b', 'tool'), 0o755);
    const allowed = await resolveAllowlist(['tool', '/usr/bin/env'], {
      PATH: ['relative/dir', join(dir, 'a'), join(dir, 'b')].join(':'),
    });
    expect(allowed.get('tool')).toEqual({
      name: 'tool',
      path: join(dir, 'b', 'tool'),
      realPath: join(dir, 'b', 'tool'),
      argv0: 'tool',
    });
    expect(allowed.get(join(dir, 'b', 'tool'))).toBe(allowed.get('tool'));
    expect(allowed.get('/usr/bin/env')).toMatchObject({ path: '/usr/bin/env', argv0: 'env' });
    expect([...allowed.keys()]).toEqual(['tool', join(dir, 'b', 'tool'), '/usr/bin/env']);
  });

  it('refuses a name it cannot find, on a relative PATH entry or with no PATH at all', async () => {
    await mkdir(join(dir, 'rel'));
    await writeFile(join(dir, 'rel', 'tool'), '#!/bin/sh\n');
    await chmod(join(dir, 'rel', 'tool'), 0o755);
    // A relative PATH entry that does lead to the tool from here: still not searched.
    const relativeEntry = relative(process.cwd(), join(dir, 'rel'));
    await expect(resolveAllowlist(['tool'], { PATH: relativeEntry })).rejects.toThrow(
      'allowed executable "tool" was not found (or is not executable)',
    );
    await expect(resolveAllowlist(['tool'], { PATH: join(dir, 'rel') })).resolves.toBeDefined();
    await expect(resolveAllowlist(['cat'], {})).rejects.toThrow(/"cat" was not found/);
  });
});

describe('systemRunCommand', () => {
  it('runs the real file under the allowlisted name as argv[0], whatever the link is called', async () => {
    await symlink('/usr/bin/cat', join(dir, 'mycat'));
    const allowed = await resolveAllowlist([join(dir, 'mycat')]);
    expect(allowed.get(join(dir, 'mycat'))?.realPath).toBe('/usr/bin/cat');
    const result = await run(allowed, {
      command: join(dir, 'mycat'),
      args: ['/proc/self/cmdline'],
    });
    expect(result.stdout.split('\0')).toEqual(['mycat', '/proc/self/cmdline', '']);
  });

  it('refuses a name not on the list exactly, saying why a relative path fails, and lists what is allowed', async () => {
    const allowed = await resolveAllowlist(['cat'], { PATH });
    expect(systemRunCommand(allowed).description).toBe('Run one of: cat, /usr/bin/cat');
    expect(await refusal(run(allowed, { command: './cat' }))).toEqual({
      code: 'FORBIDDEN',
      message:
        '"./cat" is not in this node\'s allowlist for system.run (relative paths are refused; name an allowed executable exactly as listed)',
      details: { allowed: ['cat', '/usr/bin/cat'] },
    });
    // A bare name not on the list is not called a relative path.
    expect((await refusal(run(allowed, { command: 'nope' }))).message).toBe(
      `"nope" is not in this node's allowlist for system.run (name an allowed executable exactly as listed)`,
    );
    const long = `/bin/${'x'.repeat(300)}`;
    expect((await refusal(run(allowed, { command: long }))).message).toBe(
      `"${long.slice(0, 200)}" is not in this node's allowlist for system.run (name an allowed executable exactly as listed)`,
    );
  });

  it('gives the child only PATH, HOME and LANG, with defaults, and starts it in HOME', async () => {
    const allowed = await resolveAllowlist(['env', 'pwd'], { PATH });
    const given = await run(
      allowed,
      { command: 'env' },
      { env: { PATH, HOME: dir, LANG: 'de_DE.UTF-8', SECRET: 'x' } },
    );
    expect(given.stdout.trim().split('\n').sort()).toEqual([
      `HOME=${dir}`,
      'LANG=de_DE.UTF-8',
      `PATH=${PATH}`,
    ]);
    const defaults = await run(allowed, { command: 'env' }, { env: {} });
    expect(defaults.stdout.trim().split('\n').sort()).toEqual([
      `HOME=${homedir()}`,
      'LANG=C.UTF-8',
      'PATH=/usr/bin:/bin',
    ]);
    expect((await run(allowed, { command: 'pwd' })).stdout).toBe(`${dir}\n`);
  });

  it('runs in a shared directory when asked, and nowhere outside the roots', async () => {
    await mkdir(join(dir, 'shared'));
    const roots = await resolveRoots([join(dir, 'shared')]);
    const allowed = await resolveAllowlist(['pwd'], { PATH });
    expect((await run(allowed, { command: 'pwd', cwd: '.' }, { roots })).stdout).toBe(
      `${join(dir, 'shared')}\n`,
    );
    expect((await refusal(run(allowed, { command: 'pwd', cwd: '..' }, { roots }))).code).toBe(
      'FORBIDDEN',
    );
    expect((await refusal(run(allowed, { command: 'pwd', cwd: '/' }))).message).toBe(
      'no directories are shared by this node',
    );
  });

  it('bounds a call by the node’s timeout even when the call asks for more', async () => {
    const allowed = await resolveAllowlist(['sleep'], { PATH });
    const started = Date.now();
    const result = await run(
      allowed,
      { command: 'sleep', args: ['30'], timeoutMs: 60_000 },
      { timeoutMs: 200 },
    );
    expect(result).toMatchObject({
      timedOut: true,
      exitCode: null,
      signal: 'SIGKILL',
      truncated: false,
    });
    expect(Date.now() - started).toBeLessThan(20_000);
    const quick = await run(
      allowed,
      { command: 'sleep', args: ['0'], timeoutMs: 5_000 },
      { timeoutMs: 200 },
    );
    expect(quick).toMatchObject({ timedOut: false, exitCode: 0, signal: null });
  });

  it('keeps output up to the cap: exactly at it is truncated and killed, one byte under is whole', async () => {
    const allowed = await resolveAllowlist(['printf', 'sh'], { PATH });
    const under = await run(allowed, { command: 'printf', args: ['abcd'] }, { maxOutputBytes: 5 });
    expect(under).toMatchObject({ stdout: 'abcd', truncated: false, exitCode: 0 });
    const over = await run(
      allowed,
      { command: 'sh', args: ['-c', 'printf abcdefgh; printf 123456789 >&2; sleep 30'] },
      { maxOutputBytes: 5 },
    );
    expect(over).toMatchObject({
      stdout: 'abcde',
      truncated: true,
      timedOut: false,
      signal: 'SIGKILL',
    });
    expect(over.stderr.length).toBeLessThanOrEqual(5);
    const exact = await run(
      allowed,
      { command: 'sh', args: ['-c', 'printf abcde; sleep 30'] },
      { maxOutputBytes: 5 },
    );
    expect(exact).toMatchObject({ stdout: 'abcde', truncated: true, signal: 'SIGKILL' });
  });

  it('feeds stdin, returns a non-zero exit as a result, and stderr apart', async () => {
    const allowed = await resolveAllowlist(['cat', 'sh'], { PATH });
    expect((await run(allowed, { command: 'cat', stdin: 'fed in' })).stdout).toBe('fed in');
    expect((await run(allowed, { command: 'cat' })).stdout).toBe('');
    const failed = await run(allowed, { command: 'sh', args: ['-c', 'echo oops >&2; exit 3'] });
    expect(failed).toMatchObject({
      command: 'sh',
      exitCode: 3,
      signal: null,
      stdout: '',
      stderr: 'oops\n',
      truncated: false,
      timedOut: false,
    });
    expect(failed.durationMs).toBeGreaterThanOrEqual(0);
    expect(failed.durationMs).toBeLessThan(60_000);
  });

  it('kills the process group when the call is cancelled, and only then', async () => {
    const allowed = await resolveAllowlist(['sh'], { PATH });
    const command = systemRunCommand(allowed, { env: { PATH, HOME: dir } });
    const controller = new AbortController();
    const parsed = command.params?.safeParse({ command: 'sh', args: ['-c', 'sleep 30 & wait'] });
    if (!parsed?.success) throw new Error('bad params');
    const started = Date.now();
    const running = command.run(parsed.data as never, { signal: controller.signal } as never);
    await new Promise((resolve) => setTimeout(resolve, 200));
    controller.abort();
    const result = await running;
    expect(result).toMatchObject({ signal: 'SIGKILL', timedOut: false, truncated: false });
    expect(Date.now() - started).toBeLessThan(20_000);
  });

  it('reports an executable that can no longer be started', async () => {
    await writeFile(join(dir, 'gone'), '#!/bin/sh\n');
    await chmod(join(dir, 'gone'), 0o755);
    const allowed = await resolveAllowlist([join(dir, 'gone')]);
    await rm(join(dir, 'gone'));
    expect(await refusal(run(allowed, { command: join(dir, 'gone') }))).toEqual({
      code: 'COMMAND_FAILED',
      message: `could not start "${join(dir, 'gone')}" (ENOENT)`,
      details: undefined,
    });
  });
});
