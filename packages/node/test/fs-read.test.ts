import { execFileSync } from 'node:child_process';
import type { FileHandle } from 'node:fs/promises';
import { mkdir, mkdtemp, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CommandError } from '../src/commands.js';
import {
  fsError,
  fsReadCommand,
  isInside,
  type ResolvedRoot,
  resolveInsideRoots,
  resolveRoots,
} from '../src/host/fs-read.js';

/**
 * `fs.read` on its own: the root checks as written and after symlinks, the
 * check on the opened descriptor (a path swapped between the check and the
 * open is simulated by what /proc reports for the descriptor, or by its
 * identity where there is no /proc), file kinds, the size cap, and that every
 * opened file is closed. The host wiring is host-commands.test.ts.
 */
const hooks = vi.hoisted(() => ({
  readlink: undefined as ((path: string) => Promise<string>) | undefined,
  stat: undefined as ((path: string) => Promise<unknown>) | undefined,
  open: undefined as (() => Promise<unknown>) | undefined,
  opened: [] as FileHandle[],
}));
vi.mock('node:fs/promises', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs/promises')>();
  return {
    ...real,
    readlink: (path: string, ...rest: never[]) =>
      hooks.readlink ? hooks.readlink(path) : real.readlink(path, ...rest),
    stat: (path: string, ...rest: never[]) =>
      hooks.stat ? hooks.stat(path) : real.stat(path, ...rest),
    open: async (...args: Parameters<typeof real.open>) => {
      if (hooks.open) return hooks.open();
      const handle = await real.open(...args);
      hooks.opened.push(handle);
      return handle;
    },
  };
});

let dir: string;
let shared: string;
let other: string;
let roots: ResolvedRoot[];
const servers: Server[] = [];

beforeEach(async () => {
  dir = await realpath(await mkdtemp(join(tmpdir(), 'lg-fs-read-')));
  shared = join(dir, 'shared');
  other = join(dir, 'other');
  await mkdir(shared);
  await mkdir(other);
  await writeFile(join(shared, 'hello.txt'), 'hello world');
  await writeFile(join(other, 'two.txt'), 'second root');
  await writeFile(join(dir, 'secret.txt'), 'do not read');
  roots = await resolveRoots([shared, other]);
  hooks.readlink = undefined;
  hooks.stat = undefined;
  hooks.open = undefined;
  hooks.opened = [];
});
afterEach(async () => {
  for (const server of servers.splice(0)) server.close();
  await rm(dir, { recursive: true, force: true });
});

async function read(params: Record<string, unknown>, options: { maxBytes?: number } = {}) {
  const command = fsReadCommand(roots, options);
  const parsed = command.params?.safeParse(params);
  if (!parsed?.success) throw new Error('bad params');
  return command.run(parsed.data as never, {} as never);
}

async function refusal(promise: Promise<unknown>): Promise<{ code: string; message: string }> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(CommandError);
  const { code, message } = error as CommandError;
  return { code, message };
}

describe('isInside', () => {
  it('takes the root and what is under it, not its parent, a sibling with its prefix, or ..', () => {
    expect(isInside('/srv/data', '/srv/data')).toBe(true);
    expect(isInside('/srv/data', '/srv/data/a/b')).toBe(true);
    expect(isInside('/srv/data', '/srv/data/..foo')).toBe(true);
    expect(isInside('/srv/data', '/srv')).toBe(false);
    expect(isInside('/srv/data', '/srv/data-old/x')).toBe(false);
    expect(isInside('/srv/data', '/srv/other')).toBe(false);
  });
});

describe('resolveInsideRoots', () => {
  it('refuses everything when no directory is shared', async () => {
    expect(await refusal(resolveInsideRoots('a.txt', []))).toEqual({
      code: 'FORBIDDEN',
      message: 'no directories are shared by this node',
    });
  });

  it('reads from any root, and through a root configured as a symlink', async () => {
    expect(await resolveInsideRoots(join(other, 'two.txt'), roots)).toBe(join(other, 'two.txt'));
    await symlink(shared, join(dir, 'via-link'));
    const linked = await resolveRoots([join(dir, 'via-link')]);
    expect(await resolveInsideRoots(join(shared, 'hello.txt'), linked)).toBe(
      join(shared, 'hello.txt'),
    );
    expect(await resolveInsideRoots('hello.txt', linked)).toBe(join(shared, 'hello.txt'));
  });

  it('says whether a path is outside as written or leads outside through a symlink', async () => {
    expect(await refusal(resolveInsideRoots('../secret.txt', roots))).toEqual({
      code: 'FORBIDDEN',
      message: '../secret.txt is outside the directories this node shares',
    });
    await symlink(join(dir, 'secret.txt'), join(shared, 'link.txt'));
    expect(await refusal(resolveInsideRoots('link.txt', roots))).toEqual({
      code: 'FORBIDDEN',
      message: 'link.txt leads outside the directories this node shares',
    });
    expect(await refusal(resolveInsideRoots('missing.txt', roots))).toEqual({
      code: 'NOT_FOUND',
      message: 'missing.txt does not exist',
    });
  });
});

describe('fsError', () => {
  it('maps each errno to a typed error naming the path', () => {
    const as = (code: string | undefined) => {
      const e = fsError(Object.assign(new Error('x'), { code }), 'p.txt');
      return [e.code, e.message];
    };
    expect(as('ENOENT')).toEqual(['NOT_FOUND', 'p.txt does not exist']);
    expect(as('ENOTDIR')).toEqual(['NOT_FOUND', 'p.txt does not exist']);
    expect(as('EACCES')).toEqual(['FORBIDDEN', 'p.txt is not readable']);
    expect(as('EPERM')).toEqual(['FORBIDDEN', 'p.txt is not readable']);
    expect(as('ELOOP')).toEqual(['FORBIDDEN', 'p.txt changed while it was being opened']);
    expect(as('EIO')).toEqual(['COMMAND_FAILED', 'cannot read p.txt (EIO)']);
    expect(as(undefined)).toEqual(['COMMAND_FAILED', 'cannot read p.txt (error)']);
  });
});

describe('fsReadCommand', () => {
  it('describes itself with its roots', () => {
    expect(fsReadCommand(roots).description).toBe(`Read a file under ${shared}, ${other}`);
  });

  it('reads past the end as nothing, and a file exactly at the cap whole', async () => {
    expect(await read({ path: 'hello.txt', offset: 20 })).toEqual({
      path: 'hello.txt',
      size: 11,
      offset: 20,
      bytesRead: 0,
      eof: true,
      encoding: 'utf8',
      content: '',
    });
    expect(await read({ path: 'hello.txt' }, { maxBytes: 11 })).toMatchObject({
      bytesRead: 11,
      content: 'hello world',
      eof: true,
    });
    expect(await refusal(read({ path: 'hello.txt', offset: 1 }, { maxBytes: 9 }))).toEqual({
      code: 'PAYLOAD_TOO_LARGE',
      message:
        "hello.txt has 10 bytes to read, over this node's limit of 9 per call; read it in parts with offset/length",
    });
  });

  it('names what a non-file is: a directory, a FIFO, a socket', async () => {
    await mkdir(join(shared, 'sub'));
    expect(await refusal(read({ path: 'sub' }))).toEqual({
      code: 'BAD_REQUEST',
      message: 'sub is a directory, not a regular file',
    });
    execFileSync('mkfifo', [join(shared, 'pipe')]);
    expect(await refusal(read({ path: 'pipe' }))).toEqual({
      code: 'BAD_REQUEST',
      message: 'pipe is a FIFO, not a regular file',
    });
    const server = createServer();
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(join(shared, 'sock'), resolve));
    // A socket cannot be opened at all: refused by the open, before any kind is named.
    expect(await refusal(read({ path: 'sock' }))).toEqual({
      code: 'COMMAND_FAILED',
      message: 'cannot read sock (ENXIO)',
    });
  });

  it('names devices and other special files that an open did return', async () => {
    const kinds = ['isSocket', 'isCharacterDevice', 'isBlockDevice', 'none'] as const;
    const messages: string[] = [];
    for (const kind of kinds) {
      const is = (name: string) => () => name === kind;
      hooks.readlink = async () => join(shared, 'hello.txt');
      hooks.open = async () => ({
        fd: 99,
        stat: async () => ({
          isFile: () => false,
          isDirectory: () => false,
          isFIFO: () => false,
          isSocket: is('isSocket'),
          isCharacterDevice: is('isCharacterDevice'),
          isBlockDevice: is('isBlockDevice'),
        }),
        close: async () => {},
      });
      messages.push((await refusal(read({ path: 'hello.txt' }))).message);
    }
    expect(messages).toEqual([
      'hello.txt is a socket, not a regular file',
      'hello.txt is a device, not a regular file',
      'hello.txt is a device, not a regular file',
      'hello.txt is a special file, not a regular file',
    ]);
  });

  it('closes every file it opened, whether it read it or refused it', async () => {
    await read({ path: 'hello.txt' });
    await mkdir(join(shared, 'sub'));
    await refusal(read({ path: 'sub' }));
    expect(hooks.opened).toHaveLength(2);
    for (const handle of hooks.opened) expect(handle.fd).toBe(-1);
  });

  it('refuses a file whose descriptor turns out to be outside the roots (/proc)', async () => {
    hooks.readlink = async (path) => {
      expect(path).toMatch(/^\/proc\/self\/fd\/\d+$/);
      return join(dir, 'secret.txt');
    };
    expect(await refusal(read({ path: 'hello.txt' }))).toEqual({
      code: 'FORBIDDEN',
      message: 'hello.txt changed while it was being opened',
    });
    hooks.readlink = async () => join(other, 'two.txt');
    expect(await read({ path: 'hello.txt' })).toMatchObject({ content: 'hello world' });
  });

  it('without /proc, compares the descriptor with the checked path by device and inode', async () => {
    hooks.readlink = async () => {
      throw Object.assign(new Error('no /proc'), { code: 'ENOENT' });
    };
    expect(await read({ path: 'hello.txt' })).toMatchObject({ content: 'hello world' });
    const { stat: realStat } =
      await vi.importActual<typeof import('node:fs/promises')>('node:fs/promises');
    const swapped = async (change: { dev?: number; ino?: number } | 'gone') => {
      hooks.stat = async (path) => {
        if (change === 'gone') throw Object.assign(new Error('gone'), { code: 'ENOENT' });
        const s = await realStat(path);
        return { dev: change.dev ?? s.dev, ino: change.ino ?? s.ino };
      };
      return refusal(read({ path: 'hello.txt' }));
    };
    const changed = { code: 'FORBIDDEN', message: 'hello.txt changed while it was being opened' };
    expect(await swapped({ ino: 1 })).toEqual(changed);
    expect(await swapped({ dev: 1 })).toEqual(changed);
    expect(await swapped('gone')).toEqual(changed);
  });
});
