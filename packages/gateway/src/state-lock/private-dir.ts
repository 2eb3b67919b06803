import { mkdirSync, statSync } from 'node:fs';

/**
 * A state dir the gateway will not use: another user owns it, or its group
 * or everyone may write into it. Whoever can write the directory can plant
 * what the gateway trusts (an `operator-tokens.json` holding their own admin
 * token, a `logs/gateway.log` symlinked to one of this user's files).
 */
export class UnsafeStateDirError extends Error {
  override readonly name = 'UnsafeStateDirError';
  constructor(
    readonly stateDir: string,
    reason: string,
  ) {
    super(`state dir ${stateDir} ${reason}`);
  }
}

/**
 * Makes the state dir (0700) if it is missing, then checks that it is this
 * user's and that no one else may write into it, as ssh checks `~/.ssh`.
 * Synchronous and before anything else touches the dir: the logger opens its
 * file as the gateway is built. Checked after the mkdir, so a directory
 * another user made in the meantime is caught too. A symlinked state dir is
 * judged by the directory it leads to. (Without POSIX users, on Windows,
 * there is nothing to check.)
 */
export function assertPrivateStateDir(stateDir: string): void {
  const uid = process.getuid?.();
  if (uid === undefined) return;
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const info = statSync(stateDir);
  if (!info.isDirectory()) throw new UnsafeStateDirError(stateDir, 'is not a directory');
  if (info.uid !== uid)
    throw new UnsafeStateDirError(
      stateDir,
      `belongs to uid ${info.uid}, not to this user (uid ${uid}): its owner could plant a token or a symlink the gateway would trust; use a state dir of your own (LOOPGATE_STATE_DIR)`,
    );
  const mode = info.mode & 0o777;
  if ((mode & 0o022) !== 0)
    throw new UnsafeStateDirError(
      stateDir,
      `is writable by other users (mode 0${mode.toString(8)}): any of them could plant a token or a symlink the gateway would trust; check what is in it, then run chmod 700 ${stateDir}`,
    );
}
