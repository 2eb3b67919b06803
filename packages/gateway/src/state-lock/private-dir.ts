import { mkdirSync, statSync } from 'node:fs';
import { untrustedStatsReason } from '@loopgate/protocol';

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
 * Makes the state dir (0700) if it is missing, then checks it by the rule
 * the clients apply too (`untrustedStatsReason`: this user's, no group or
 * other write bit), as ssh checks `~/.ssh`. Synchronous and before anything
 * else touches the dir: the logger opens its file as the gateway is built.
 * Checked after the mkdir, so a directory another user made in the meantime
 * is caught too. A symlinked state dir is judged by the directory it leads
 * to. (Without POSIX users, on Windows, there is nothing to check.)
 */
export function assertPrivateStateDir(stateDir: string): void {
  if (process.getuid === undefined) return;
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const info = statSync(stateDir);
  if (!info.isDirectory()) throw new UnsafeStateDirError(stateDir, 'is not a directory');
  const reason = untrustedStatsReason(stateDir, info);
  if (reason) throw new UnsafeStateDirError(stateDir, reason);
}
