import { resolveGatewayTarget } from '@loopgate/client';
import type { StateLockHolder, StateLockStatus } from '@loopgate/gateway';
import { resolveStateDir } from '@loopgate/protocol';
import type { ClientFlags } from '../connect.js';
import { formatDuration } from '../output.js';

/** One line about who holds the state dir, for `gateway status` and `stop`. */
export function describeLockStatus(stateDir: string, status: StateLockStatus): string {
  switch (status.state) {
    case 'free':
      return `state dir ${stateDir}: no gateway runs on it (no lock)`;
    case 'stale':
      return `state dir ${stateDir}: no gateway runs on it (stale lock of pid ${status.holder.pid}: ${status.reason}; the next start takes it over)`;
    case 'unreadable':
      return `state dir ${stateDir}: unreadable lock file ${status.path} (${status.reason})`;
    case 'held':
      return `state dir ${stateDir}: gateway pid ${status.holder.pid}${portOf(status.holder)}, up ${formatDuration(Date.now() - status.holder.startedAt)}, loopgate ${status.holder.version}`;
  }
}

export const portOf = (h: StateLockHolder): string =>
  h.port === undefined ? ' (not listening yet)' : ` on port ${h.port}`;

/** The lock line for `gateway status`: which process holds the active profile's state dir. */
export async function stateDirLockLine(): Promise<string> {
  const stateDir = resolveStateDir();
  const { readStateLock } = await import('@loopgate/gateway');
  return describeLockStatus(stateDir, await readStateLock(stateDir));
}

/** Whether a client command with these flags talks to this host's gateway of the active profile. */
export function targetsLocalGateway(flags: ClientFlags): boolean {
  if (flags.url || flags.ssh || process.env.LOOPGATE_GATEWAY_URL) return false;
  try {
    return resolveGatewayTarget().mode === 'local';
  } catch {
    // A bad config: the command itself reports it with its key path.
    return false;
  }
}
