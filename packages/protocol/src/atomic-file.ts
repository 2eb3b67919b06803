/**
 * The one durable-write primitive every Loopgate process uses: the gateway's
 * state (token, pairings, offsets, events), the node's token file, the
 * dashboard's and the client's config edits. It lives in the protocol
 * package because that is the one package all of them depend on.
 */
import { randomBytes } from 'node:crypto';
import type { Dirent } from 'node:fs';
import { mkdir, open, readdir, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/**
 * A state file that could not be saved. The message names the file and the
 * system error but not the full path: these errors reach logs and, as
 * INTERNAL errors, operators, who must not learn the layout of the host. `code` keeps the errno code
 * (`ENOSPC`, `EDQUOT`, ...) for callers that branch on it.
 */
export class StateWriteError extends Error {
  override readonly name = 'StateWriteError';
  readonly code: string | undefined;
  readonly file: string;

  constructor(path: string, cause: unknown) {
    const errno = cause as NodeJS.ErrnoException;
    // Node's fs messages end in ", <syscall> '<path>'[ -> '<dest>']"; keep what precedes it.
    const what =
      typeof errno?.message === 'string' ? errno.message.replace(/, \w+ '.*$/s, '') : String(cause);
    super(`could not save ${basename(path)}: ${what}`);
    this.code = typeof errno?.code === 'string' ? errno.code : undefined;
    this.file = basename(path);
  }
}

/**
 * Replaces `path` with `data` so that a crash at any point leaves either the
 * old file or the new one, never a torn one: temp file in the same directory,
 * full write, fsync, rename over the target, fsync the directory so the
 * rename itself is durable. On failure (ENOSPC, EDQUOT, ...) the old file is
 * untouched and the temp file removed, and a `StateWriteError` propagates.
 */
export async function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  options: { mode?: number } = {},
): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true, mode: 0o700 }).catch((error: unknown) => {
    throw new StateWriteError(path, error);
  });
  const tmp = tempPathFor(path);
  const mode = options.mode ?? 0o600;
  let handle: Awaited<ReturnType<typeof open>> | undefined;
  try {
    handle = await open(tmp, 'wx', mode);
    await handle.writeFile(data);
    await handle.sync();
    await handle.close();
    handle = undefined;
    await rename(tmp, path);
  } catch (error) {
    // Cleanup after a failed write: the write's own error is what is thrown below.
    await handle?.close().catch(() => {});
    await rm(tmp, { force: true }).catch(() => {});
    throw new StateWriteError(path, error);
  }
  await fsyncDirectory(dir).catch((error: unknown) => {
    throw new StateWriteError(path, error);
  });
}

/**
 * Where a replacement for `path` is written before the rename: beside it,
 * hidden, and named after the writing process, so a sweep can tell a
 * crashed writer's leftover from a write in progress.
 */
export function tempPathFor(path: string): string {
  return join(
    dirname(path),
    `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`,
  );
}

const TEMP_NAME = /^\..+\.(\d+)\.[0-9a-f]{12}\.tmp$/;

/**
 * Deletes the temp files that writers which no longer run left below `dir`
 * (a crash or SIGKILL between the temp write and the rename), `depth`
 * levels down. A file whose writer's pid is alive — this process, or
 * another gateway or node on the same state dir — is left alone. Returns
 * the paths removed; unreadable folders are skipped.
 */
export async function removeStaleTempFiles(dir: string, depth = 2): Promise<string[]> {
  let entries: Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    // A missing or unreadable folder has no temp files to remove.
    return [];
  }
  const removed: string[] = [];
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (depth > 0) removed.push(...(await removeStaleTempFiles(path, depth - 1)));
      continue;
    }
    const pid = TEMP_NAME.exec(entry.name)?.[1];
    if (!entry.isFile() || pid === undefined || processIsAlive(Number(pid))) continue;
    await rm(path, { force: true }).then(
      () => removed.push(path),
      () => {},
    );
  }
  return removed;
}

function processIsAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, it just is not ours to signal.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export async function fsyncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** JSON with a trailing newline, written atomically. */
export async function writeJsonAtomic(
  path: string,
  value: unknown,
  options: { mode?: number } = {},
): Promise<void> {
  await writeFileAtomic(path, `${JSON.stringify(value, null, 2)}\n`, options);
}
