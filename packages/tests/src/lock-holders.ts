import { readStateLock } from '@loopgate/gateway';

/**
 * SIGKILLs whatever gateway process holds each state dir's lock, for tests
 * that start gateways the test did not spawn itself (`gateway restart`
 * detaches its new process; a systemd unit's ExecStart). Never this process.
 */
export async function killLockHolders(stateDirs: string[]): Promise<void> {
  for (const dir of stateDirs) {
    const status = await readStateLock(dir);
    if (status.state === 'held' && status.holder.pid !== process.pid)
      process.kill(status.holder.pid, 'SIGKILL');
  }
}
