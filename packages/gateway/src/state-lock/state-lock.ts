import { randomUUID } from 'node:crypto';
import { readFileSync, unlinkSync } from 'node:fs';
import { link, mkdir, open, readFile, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { tempPathFor, writeFileAtomic } from '@loopgate/protocol';
import * as z from 'zod';
import { ownProcessIdentity, processLiveness } from './process-identity.js';

/** The lock file in a state dir; its presence with a live holder means "a gateway runs here". */
export const STATE_LOCK_FILE = 'gateway.lock';
/** Held for the few milliseconds of replacing a stale lock, so two starters cannot both take it over. */
const TAKEOVER_FILE = 'gateway.lock.takeover';
/** A takeover guard older than this was left by a starter that died mid-takeover. */
const TAKEOVER_GUARD_STALE_MS = 10_000;
/** The lock is a few hundred bytes; anything much bigger is not ours. */
const MAX_LOCK_BYTES = 16 * 1024;

const StateLockHolder = z.object({
  /** Random per acquisition: a release removes the lock only while it is still this one. */
  id: z.string().max(64),
  pid: z.number().int().positive(),
  /** The first bound port and its URL; absent until the listener is up. */
  port: z.number().int().min(0).max(65535).optional(),
  url: z.string().max(512).optional(),
  /** When the gateway took the lock (ms since the epoch). */
  startedAt: z.number(),
  version: z.string().max(64),
  host: z.string().max(256),
  /** Process start time in clock ticks since boot (Linux), so a reused pid is not mistaken for the holder. */
  startTicks: z.string().max(32).optional(),
  bootId: z.string().max(64).optional(),
});
export type StateLockHolder = z.infer<typeof StateLockHolder>;

export type StateLockStatus =
  | { state: 'free'; path: string }
  | { state: 'held'; path: string; holder: StateLockHolder }
  | { state: 'stale'; path: string; holder: StateLockHolder; reason: string }
  | { state: 'unreadable'; path: string; reason: string };

/** A second gateway on a state dir that a live gateway holds (or whose lock cannot be read). */
export class StateLockedError extends Error {
  override readonly name = 'StateLockedError';
  constructor(
    readonly stateDir: string,
    readonly status: Extract<StateLockStatus, { state: 'held' | 'unreadable' }>,
  ) {
    super(describeLockedStateDir(stateDir, status));
  }
}

/**
 * One line: who holds the state dir, and what to do about it. `stopCommand`
 * is how this caller's user stops it (the CLI adds the active `--profile`).
 */
export function describeLockedStateDir(
  stateDir: string,
  status: Extract<StateLockStatus, { state: 'held' | 'unreadable' }>,
  stopCommand = 'loopgate gateway stop',
): string {
  if (status.state === 'unreadable') {
    return `state dir ${stateDir} has a lock file that cannot be read (${status.reason}): if no gateway runs on it, remove ${status.path}`;
  }
  const h = status.holder;
  const where = h.port === undefined ? 'port not bound yet' : `port ${h.port}`;
  const remote = h.host === hostname() ? '' : ` on host ${h.host}`;
  return `a gateway already runs on state dir ${stateDir} (pid ${h.pid}${remote}, ${where}, loopgate ${h.version}): stop it first (${stopCommand}, or kill -TERM ${h.pid}), or give this one another state dir (LOOPGATE_STATE_DIR or --profile <name>)`;
}

/** Lock ids this process holds: a lock naming our own pid but not listed here is an earlier process's. */
const heldHere = new Set<string>();

/**
 * Who holds the state dir's lock, and whether that process still runs. For
 * `doctor`, `gateway status` and `gateway stop`; never changes a file.
 */
export async function readStateLock(stateDir: string): Promise<StateLockStatus> {
  const path = join(stateDir, STATE_LOCK_FILE);
  let text: string;
  try {
    const info = await stat(path);
    if (info.size > MAX_LOCK_BYTES)
      return { state: 'unreadable', path, reason: `${info.size} bytes, not a Loopgate lock` };
    text = await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { state: 'free', path };
    return { state: 'unreadable', path, reason: code ?? String(error) };
  }
  let holder: StateLockHolder;
  try {
    holder = StateLockHolder.parse(JSON.parse(text));
  } catch {
    // Written whole (temp file + link), so a torn write is not the cause: report, never guess.
    return { state: 'unreadable', path, reason: 'not a Loopgate lock file' };
  }
  // Another machine sharing the dir: its pids mean nothing here, so the lock stands.
  if (holder.host !== hostname()) return { state: 'held', path, holder };
  if (holder.pid === process.pid) {
    return heldHere.has(holder.id)
      ? { state: 'held', path, holder }
      : { state: 'stale', path, holder, reason: 'left by an earlier process with this pid' };
  }
  const liveness = processLiveness(holder.pid, holder);
  return liveness.alive
    ? { state: 'held', path, holder }
    : { state: 'stale', path, holder, reason: liveness.reason };
}

/** Whether a holder's process still runs: `gateway stop` waits for this to turn false. */
export function isLockHolderRunning(holder: StateLockHolder): boolean {
  if (holder.host !== hostname()) return true;
  if (holder.pid === process.pid) return heldHere.has(holder.id);
  return processLiveness(holder.pid, holder).alive;
}

export type StateLock = {
  readonly path: string;
  readonly holder: StateLockHolder;
  /** The crashed gateway's lock this one replaced, if any. */
  readonly replaced: { holder: StateLockHolder; reason: string } | undefined;
  /** Records where the gateway listens, for `gateway status/stop` and a refused second start. */
  recordListening(port: number, url: string): Promise<void>;
  /** Removes the lock if it is still this one. Idempotent. */
  release(): Promise<void>;
};

/**
 * Takes the state dir for this process, before any state is touched. A live
 * holder means StateLockedError and no byte written; a stale lock (its
 * process gone, or its pid reused) is taken over.
 */
export async function acquireStateLock(
  stateDir: string,
  options: { version: string },
): Promise<StateLock> {
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  const holder: StateLockHolder = {
    id: randomUUID(),
    pid: process.pid,
    startedAt: Date.now(),
    version: options.version,
    host: hostname(),
    ...ownProcessIdentity(),
  };
  let replaced: { holder: StateLockHolder; reason: string } | undefined;
  // A few rounds: the lock may be released or replaced between our look and our write.
  for (let round = 0; round < 20; round++) {
    const status = await readStateLock(stateDir);
    if (status.state === 'held' || status.state === 'unreadable')
      throw new StateLockedError(stateDir, status);
    const taken =
      status.state === 'free'
        ? await createLockFile(status.path, holder)
        : await takeOverStaleLock(stateDir, status, holder);
    if (taken) {
      if (status.state === 'stale') replaced = { holder: status.holder, reason: status.reason };
      return heldLock(status.path, holder, replaced);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  const last = await readStateLock(stateDir);
  if (last.state === 'held' || last.state === 'unreadable')
    throw new StateLockedError(stateDir, last);
  throw new Error(`could not take the lock on state dir ${stateDir}: other starters keep racing`);
}

/** Writes the lock whole to a temp file and links it into place: `link` fails if the lock exists. */
async function createLockFile(path: string, holder: StateLockHolder): Promise<boolean> {
  const tmp = tempPathFor(path);
  await writeFile(tmp, `${JSON.stringify(holder)}\n`, { mode: 0o600, flag: 'wx' });
  try {
    await link(tmp, path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  } finally {
    await rm(tmp, { force: true });
  }
}

async function takeOverStaleLock(
  stateDir: string,
  stale: Extract<StateLockStatus, { state: 'stale' }>,
  holder: StateLockHolder,
): Promise<boolean> {
  const guard = join(stateDir, TAKEOVER_FILE);
  try {
    await writeFile(guard, `${process.pid}\n`, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    await removeAbandonedGuard(guard);
    return false;
  }
  try {
    // Still the same stale lock? Another starter may have replaced it before we got the guard.
    const now = await readStateLock(stateDir);
    if (now.state !== 'stale' || now.holder.id !== stale.holder.id) return false;
    await unlink(stale.path).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw error;
    });
    return await createLockFile(stale.path, holder);
  } finally {
    await rm(guard, { force: true });
  }
}

/** A guard whose writer died mid-takeover would block every later start: drop it when old. */
async function removeAbandonedGuard(guard: string): Promise<void> {
  try {
    const info = await stat(guard);
    if (Date.now() - info.mtimeMs > TAKEOVER_GUARD_STALE_MS) await rm(guard, { force: true });
  } catch {
    // Gone already: the other starter finished its takeover.
  }
}

function heldLock(
  path: string,
  initial: StateLockHolder,
  replaced: StateLock['replaced'],
): StateLock {
  let holder = initial;
  let released = false;
  heldHere.add(holder.id);
  const stillOurs = (text: string): boolean => {
    try {
      return (JSON.parse(text) as { id?: unknown }).id === holder.id;
    } catch {
      // Not JSON: not our lock (another writer replaced it), so it is not ours to remove.
      return false;
    }
  };
  // Backstop for an exit without stop() (uncaught error, process.exit): never leave our lock behind.
  const releaseOnExit = () => {
    try {
      if (stillOurs(readFileSync(path, 'utf8'))) unlinkSync(path);
    } catch {
      // Already gone, or the dir was removed: nothing to release.
    }
  };
  process.on('exit', releaseOnExit);
  return {
    path,
    get holder() {
      return holder;
    },
    replaced,
    async recordListening(port, url) {
      if (released) return;
      holder = { ...holder, port, url };
      await writeFileAtomic(path, `${JSON.stringify(holder)}\n`, { mode: 0o600 });
    },
    async release() {
      if (released) return;
      released = true;
      process.off('exit', releaseOnExit);
      heldHere.delete(holder.id);
      // Already gone (removed by hand or taken over): nothing to release.
      const handle = await open(path, 'r').catch(() => undefined);
      if (!handle) return;
      try {
        if (!stillOurs(await handle.readFile('utf8'))) return;
      } finally {
        await handle.close();
      }
      await rm(path, { force: true });
    },
  };
}
