import { statSync } from 'node:fs';

/**
 * Why a file or directory another local user could have written must not be
 * trusted, or `undefined` when it is safe (or missing: nothing planted there).
 * Safe means: this user's (or root's, for a file such as a config under
 * /etc), and no group or other write bit — as ssh judges `~/.ssh/config`.
 * A symlink is judged by what it leads to. Without POSIX users (Windows)
 * there is nothing to check.
 */
export function untrustedPathReason(path: string): string | undefined {
  const uid = process.getuid?.();
  if (uid === undefined) return undefined;
  let info: ReturnType<typeof statSync>;
  try {
    info = statSync(path);
  } catch (error) {
    // Missing or unreadable: the read that follows reports it in its own words.
    if ((error as NodeJS.ErrnoException).code) return undefined;
    throw error;
  }
  const allowedOwner = info.uid === uid || (info.uid === 0 && !info.isDirectory());
  if (!allowedOwner)
    return `belongs to uid ${info.uid}, not to this user (uid ${uid}): its owner could plant a gateway address or a token file there; use a ${info.isDirectory() ? 'state dir' : 'file'} of your own`;
  const mode = Number(info.mode) & 0o777;
  if ((mode & 0o022) !== 0)
    return `is writable by other users (mode 0${mode.toString(8)}): any of them could point this client at their own server; check what is in it, then run chmod ${info.isDirectory() ? 700 : 600} ${path}`;
  return undefined;
}
