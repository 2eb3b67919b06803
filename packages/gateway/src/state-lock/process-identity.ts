import { readFileSync } from 'node:fs';

/**
 * Who a process is, beyond its pid: a pid alone is reused by the kernel, so a
 * lock also records the process start time (clock ticks since boot, from
 * `/proc/<pid>/stat`) and the boot id. Both are Linux-only; elsewhere they are
 * undefined and liveness falls back to the pid.
 */
export type ProcessIdentity = { startTicks?: string | undefined; bootId?: string | undefined };

export function ownProcessIdentity(): ProcessIdentity {
  return { startTicks: procStat(process.pid)?.startTicks, bootId: readBootId() };
}

type ProcStat = { state: string; startTicks: string };

function procStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    // No procfs (macOS) or no such process: the caller falls back to kill(pid, 0).
    return undefined;
  }
  // The command name (field 2) may contain spaces and parentheses: split after the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const state = fields[0];
  const startTicks = fields[19];
  return state && startTicks ? { state, startTicks } : undefined;
}

function readBootId(): string | undefined {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || undefined;
  } catch {
    // Not Linux: no boot id to compare.
    return undefined;
  }
}

export type Liveness = { alive: true } | { alive: false; reason: string };

/**
 * Whether the process a lock names still runs. A zombie (killed, not yet
 * reaped) counts as gone: it will never touch the state dir again.
 */
export function processLiveness(pid: number, identity: ProcessIdentity): Liveness {
  if (identity.bootId && readBootId() && identity.bootId !== readBootId())
    return { alive: false, reason: 'the machine rebooted since' };
  try {
    process.kill(pid, 0);
  } catch (error) {
    // EPERM: the pid exists but belongs to another user, so it is alive.
    if ((error as NodeJS.ErrnoException).code !== 'EPERM')
      return { alive: false, reason: `pid ${pid} is gone` };
  }
  const stat = procStat(pid);
  if (stat && (stat.state === 'Z' || stat.state === 'X'))
    return { alive: false, reason: `pid ${pid} has exited` };
  if (stat && identity.startTicks && stat.startTicks !== identity.startTicks)
    return { alive: false, reason: `pid ${pid} now belongs to another process` };
  return { alive: true };
}
