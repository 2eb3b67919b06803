import { type Stats, statSync } from 'node:fs';

/**
 * Why a file or directory another local user could have written must not be
 * trusted, or `undefined` when it is safe (or missing: nothing planted there).
 * Safe means: this user's (or root's, for a file such as a config under
 * /etc), and no group or other write bit — as ssh judges `~/.ssh/config`.
 * A symlink is judged by what it leads to. Without POSIX users (Windows)
 * there is nothing to check.
 */
export function untrustedPathReason(path: string): string | undefined {
  if (process.getuid === undefined) return undefined;
  let info: Stats;
  try {
    info = statSync(path);
  } catch (error) {
    // Missing or unreadable: the read that follows reports it in its own words.
    if ((error as NodeJS.ErrnoException).code) return undefined;
    throw error;
  }
  return untrustedStatsReason(path, info);
}

/** `untrustedPathReason` for a path already stat'ed: the one rule the gateway and its clients share. */
export function untrustedStatsReason(path: string, info: Stats): string | undefined {
  const uid = process.getuid?.();
  if (uid === undefined) return undefined;
  const dir = info.isDirectory();
  const allowedOwner = info.uid === uid || (info.uid === 0 && !dir);
  if (!allowedOwner)
    return `belongs to uid ${info.uid}, not to this user (uid ${uid}): its owner could plant a token, a config or a symlink that would be trusted; use a ${dir ? 'state dir (LOOPGATE_STATE_DIR)' : 'file'} of your own`;
  const mode = info.mode & 0o777;
  if ((mode & 0o022) !== 0)
    return `is writable by other users (mode 0${mode.toString(8)}): any of them could plant a token, a config or a symlink that would be trusted; check what is in it, then run chmod ${dir ? 700 : 600} ${path}`;
  return undefined;
}
