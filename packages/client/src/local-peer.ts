import { readFileSync } from 'node:fs';

/** The socket ends `foreignLocalPeer` needs: what a `net.Socket` has once connected. */
export type ConnectedSocket = {
  readonly remoteAddress?: string | undefined;
  readonly remotePort?: number | undefined;
  readonly localPort?: number | undefined;
};

type Waiter = { farPort: number; ourPort: number; resolve: (uid: number | undefined) => void };

/** Checks asked for in this turn; one read of the socket tables answers them all. */
let waiting: Waiter[] = [];

/**
 * The uid of the process on the other end of a loopback connection, when it
 * is another user's: not this process's uid and not root's. Such a program
 * holding the gateway's port (while the gateway is down, say) must not be
 * handed the token the client read from its own state dir. Read from
 * Linux's socket tables (`/proc/net/tcp`, `tcp6`), where the far end's
 * socket is listed with its owner; undefined off Linux, for a remote peer,
 * or when the tables cannot be read (nothing to judge by).
 *
 * The tables list every socket on the host (a busy one has tens of
 * thousands, ~15 ms to read), so the read is shared: every check asked for
 * in the same turn — a process opening a thousand node connections at once
 * — is answered by one read, made in the next turn, after all of them were
 * connected.
 */
export function foreignLocalPeer(socket: ConnectedSocket): Promise<number | undefined> {
  const ownUid = process.getuid?.();
  const { remoteAddress, remotePort, localPort } = socket;
  if (ownUid === undefined || !remoteAddress || !remotePort || !localPort) return NOBODY;
  if (!isLoopback(remoteAddress)) return NOBODY;
  return new Promise((resolve) => {
    if (waiting.push({ farPort: remotePort, ourPort: localPort, resolve }) === 1)
      setImmediate(answerWaiting, ownUid);
  });
}

const NOBODY: Promise<undefined> = Promise.resolve(undefined);

function answerWaiting(ownUid: number): void {
  const batch = waiting;
  waiting = [];
  const owners = new Map<string, number>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      // Synchronous on purpose: fs/promises reads a /proc file of unknown size
      // in chunks through the thread pool, 3–4 × slower (45 against 13 ms for
      // 13 000 rows here), and the batch has nothing else to wait for.
      text = readFileSync(table, 'latin1');
    } catch {
      // No such table here (not Linux, IPv6 off): nothing to judge by in it.
      continue;
    }
    collectOwners(text, owners);
  }
  for (const { farPort, ourPort, resolve } of batch) {
    const uid = owners.get(portPair(farPort, ourPort));
    resolve(uid !== undefined && uid !== ownUid && uid !== 0 ? uid : undefined);
  }
}

/**
 * Each socket's owner by its `localPort:remotePort`, both in the table's
 * hex. Columns: `sl local_address rem_address st tx_queue:rx_queue tr:when
 * retrnsmt uid …`, addresses as `HEXADDR:HEXPORT`, `st` in hex. The far
 * end of one of our connections is the established row whose local port is
 * its port and whose remote port is ours; the addresses are loopback either way.
 */
function collectOwners(text: string, owners: Map<string, number>): void {
  for (const line of text.split('\n')) {
    const fields = line.trim().split(/\s+/);
    // Established sockets only: a TIME_WAIT row of an earlier connection between
    // the same ports is listed as root's and must not stand in for the live one.
    if (fields.length < 8 || fields[3] !== ESTABLISHED) continue;
    const local = fields[1]!;
    const remote = fields[2]!;
    const key = `${local.slice(local.lastIndexOf(':') + 1)}:${remote.slice(remote.lastIndexOf(':') + 1)}`;
    if (!owners.has(key)) owners.set(key, Number(fields[7]));
  }
}

const ESTABLISHED = '01';

function portPair(farPort: number, ourPort: number): string {
  return `${hexPort(farPort)}:${hexPort(ourPort)}`;
}

function hexPort(port: number): string {
  return port.toString(16).toUpperCase().padStart(4, '0');
}

function isLoopback(address: string): boolean {
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  return v4.startsWith('127.') || address === '::1';
}
