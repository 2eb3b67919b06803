import { readFile, rm } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import { writeJsonAtomic } from '@loopgate/protocol';

/**
 * The local end of a tunnel: is 127.0.0.1:<port> free, does something answer
 * there, and was it opened by a loopgate tunnel (a record in the registry
 * dir names the ssh process that holds it) so another client can reuse it.
 */

const LOOPBACK = '127.0.0.1';

/** True when 127.0.0.1:`port` can be bound right now. */
export function isLocalPortFree(port: number): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EADDRINUSE') resolve(false);
      else reject(error);
    });
    server.listen({ host: LOOPBACK, port, exclusive: true }, () =>
      server.close(() => resolve(true)),
    );
  });
}

/** A port the OS considers free on 127.0.0.1 now. */
export function pickFreeLocalPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen({ host: LOOPBACK, port: 0, exclusive: true }, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** True when a TCP connection to 127.0.0.1:`port` is accepted within `timeoutMs`. */
export function canConnect(port: number, timeoutMs = 1_000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: LOOPBACK, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** What a running tunnel leaves in the registry so later clients can recognise (and reuse) it. */
export type TunnelRecord = {
  /** The supervised ssh process group leader. */
  pid: number;
  /** The process that supervises it. */
  ownerPid: number;
  target: string;
  sshPort: number | null;
  remotePort: number;
  localPort: number;
};

function recordPath(dir: string, localPort: number): string {
  return join(dir, `tunnel-${localPort}.json`);
}

export async function writeTunnelRecord(dir: string, record: TunnelRecord): Promise<void> {
  await writeJsonAtomic(recordPath(dir, record.localPort), record, { mode: 0o600 });
}

/** The live tunnel holding `localPort`, if a loopgate tunnel does; stale records (dead pid) are ignored. */
export async function readLiveTunnelRecord(
  dir: string,
  localPort: number,
): Promise<TunnelRecord | undefined> {
  let record: TunnelRecord;
  try {
    record = JSON.parse(await readFile(recordPath(dir, localPort), 'utf8')) as TunnelRecord;
  } catch {
    // No record, or a torn one: either way there is no tunnel of ours to reuse on this port.
    return undefined;
  }
  if (typeof record.pid !== 'number' || record.localPort !== localPort || !isAlive(record.pid))
    return undefined;
  return record;
}

/** Removes the record for `localPort` if it still names `pid` (a newer tunnel may own the port by now). */
export async function removeTunnelRecord(
  dir: string,
  localPort: number,
  pid: number,
): Promise<void> {
  const path = recordPath(dir, localPort);
  try {
    const record = JSON.parse(await readFile(path, 'utf8')) as TunnelRecord;
    if (record.pid === pid) await rm(path, { force: true });
  } catch {
    // No record, or unreadable: nothing of ours to remove.
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
