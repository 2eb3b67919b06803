import { constants, type Stats } from 'node:fs';
import { type FileHandle, open, readlink, realpath, stat } from 'node:fs/promises';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import * as z from 'zod';
import { type CommandDefinition, CommandError, defineCommand } from '../commands.js';

const FsReadParams = z.object({
  /** Absolute, or relative to the first root. */
  path: z.string().min(1).max(4_096),
  encoding: z.enum(['utf8', 'base64']).default('utf8'),
  offset: z.number().int().min(0).default(0),
  /** Bytes to read; default the rest of the file (refused when that is over the cap). */
  length: z.number().int().min(1).optional(),
});
type FsReadParams = z.infer<typeof FsReadParams>;

export type FsReadResult = {
  path: string;
  size: number;
  offset: number;
  bytesRead: number;
  eof: boolean;
  encoding: 'utf8' | 'base64';
  content: string;
};

/** A root as configured, plus where it really is (symlinks resolved). */
export type ResolvedRoot = { configured: string; real: string };

/** Resolves configured roots once, at start-up: a root that does not exist is a configuration error. */
export async function resolveRoots(roots: string[]): Promise<ResolvedRoot[]> {
  return Promise.all(
    roots.map(async (root) => {
      const configured = resolve(root);
      try {
        return { configured, real: await realpath(configured) };
      } catch {
        throw new Error(`fs root ${configured} does not exist or is not readable`);
      }
    }),
  );
}

export function isInside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel));
}

/**
 * The real path of `requested` if it lies inside a root, checked twice: as
 * written (so nothing outside the roots is even looked at) and after
 * resolving symlinks (so a link inside a root cannot lead out of it).
 */
export async function resolveInsideRoots(
  requested: string,
  roots: ResolvedRoot[],
): Promise<string> {
  const first = roots[0];
  if (!first) throw new CommandError('FORBIDDEN', 'no directories are shared by this node');
  const lexical = isAbsolute(requested) ? resolve(requested) : resolve(first.configured, requested);
  const allowed = (p: string) =>
    roots.some((r) => isInside(r.configured, p) || isInside(r.real, p));
  if (!allowed(lexical))
    throw new CommandError('FORBIDDEN', `${requested} is outside the directories this node shares`);
  let real: string;
  try {
    real = await realpath(lexical);
  } catch (error) {
    throw fsError(error, requested);
  }
  if (!roots.some((r) => isInside(r.real, real))) {
    throw new CommandError(
      'FORBIDDEN',
      `${requested} leads outside the directories this node shares`,
    );
  }
  return real;
}

export function fsError(error: unknown, path: string): CommandError {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' || code === 'ENOTDIR')
    return new CommandError('NOT_FOUND', `${path} does not exist`);
  if (code === 'EACCES' || code === 'EPERM')
    return new CommandError('FORBIDDEN', `${path} is not readable`);
  if (code === 'ELOOP')
    return new CommandError('FORBIDDEN', `${path} changed while it was being opened`);
  return new CommandError('COMMAND_FAILED', `cannot read ${path} (${code ?? 'error'})`);
}

/** `fs.read`: a file (or a slice of it) from inside the configured roots, size-capped. */
export function fsReadCommand(
  roots: ResolvedRoot[],
  options: { maxBytes?: number } = {},
): CommandDefinition<FsReadParams, FsReadResult> {
  const maxBytes = options.maxBytes ?? 1024 * 1024;
  return defineCommand({
    description: `Read a file under ${roots.map((r) => r.configured).join(', ')}`,
    params: FsReadParams,
    run: async (params) => {
      const real = await resolveInsideRoots(params.path, roots);
      // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer,
      // holding one of libuv's four threads until the node stops serving fs.read
      // and system.run altogether. O_NOFOLLOW: the last component is no symlink.
      const handle = await open(
        real,
        constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK,
      ).catch((error: unknown) => {
        throw fsError(error, params.path);
      });
      try {
        // Both before a byte is read: the path checked above may have changed since.
        await assertOpenedInsideRoots(handle, real, roots, params.path);
        const stat = await handle.stat();
        if (!stat.isFile())
          throw new CommandError(
            'BAD_REQUEST',
            `${params.path} is ${fileKind(stat)}, not a regular file`,
          );
        const remaining = Math.max(0, stat.size - params.offset);
        if (params.length === undefined && remaining > maxBytes) {
          throw new CommandError(
            'PAYLOAD_TOO_LARGE',
            `${params.path} has ${remaining} bytes to read, over this node's limit of ${maxBytes} per call; read it in parts with offset/length`,
            { size: stat.size, limit: maxBytes },
          );
        }
        const length = Math.min(params.length ?? remaining, remaining, maxBytes);
        const buffer = Buffer.alloc(length);
        const { bytesRead } = await handle.read(buffer, 0, length, params.offset);
        return {
          path: params.path,
          size: stat.size,
          offset: params.offset,
          bytesRead,
          eof: params.offset + bytesRead >= stat.size,
          encoding: params.encoding,
          content: buffer.subarray(0, bytesRead).toString(params.encoding),
        };
      } finally {
        await handle.close();
      }
    },
  });
}

/**
 * The file actually opened must lie inside a root. A directory on the path
 * can be swapped for a symlink between `realpath` and `open` (O_NOFOLLOW
 * guards only the last component), so the check is made on the descriptor:
 * on Linux its real path from /proc/self/fd; elsewhere its device and inode
 * must be those of the checked path.
 */
async function assertOpenedInsideRoots(
  handle: FileHandle,
  checked: string,
  roots: ResolvedRoot[],
  requested: string,
): Promise<void> {
  const escaped = () =>
    new CommandError('FORBIDDEN', `${requested} changed while it was being opened`);
  let opened: string | undefined;
  try {
    opened = await readlink(`/proc/self/fd/${handle.fd}`);
  } catch {
    // no /proc (not Linux): compare identities instead
  }
  if (opened !== undefined) {
    if (!roots.some((r) => isInside(r.real, opened))) throw escaped();
    return;
  }
  const [fromHandle, fromPath] = await Promise.all([
    handle.stat(),
    // A path that no longer resolves fails the identity check below, as an escape.
    stat(checked).catch(() => undefined),
  ]);
  if (!fromPath || fromHandle.dev !== fromPath.dev || fromHandle.ino !== fromPath.ino)
    throw escaped();
}

function fileKind(stat: Stats): string {
  if (stat.isDirectory()) return 'a directory';
  if (stat.isFIFO()) return 'a FIFO';
  if (stat.isSocket()) return 'a socket';
  if (stat.isCharacterDevice() || stat.isBlockDevice()) return 'a device';
  return 'a special file';
}
