import { readFileSync } from 'node:fs';

/** The socket ends `foreignLocalPeer` needs: what a `net.Socket` has once connected. */
export type ConnectedSocket = {
  readonly remoteAddress?: string | undefined;
  readonly remotePort?: number | undefined;
  readonly localPort?: number | undefined;
};

/**
 * The uid of the process on the other end of a loopback connection, when it
 * is another user's: not this process's uid and not root's. Such a program
 * holding the gateway's port (while the gateway is down, say) must not be
 * handed the token the client read from its own state dir. Read from
 * Linux's socket tables (`/proc/net/tcp`, `tcp6`), where the far end's
 * socket is listed with its owner; undefined off Linux, for a remote peer,
 * or when the tables cannot be read (nothing to judge by).
 */
export function foreignLocalPeer(socket: ConnectedSocket): number | undefined {
  const ownUid = process.getuid?.();
  const { remoteAddress, remotePort, localPort } = socket;
  if (ownUid === undefined || !remoteAddress || !remotePort || !localPort) return undefined;
  if (!isLoopback(remoteAddress)) return undefined;
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(table, 'latin1');
    } catch {
      // No such table here (not Linux, IPv6 off): nothing to judge by in it.
      continue;
    }
    const uid = farEndUid(text, remotePort, localPort);
    if (uid !== undefined && uid !== ownUid && uid !== 0) return uid;
  }
  return undefined;
}

/**
 * The owner of the table's socket whose local port is the far end's and
 * whose remote port is ours: the far end of this very connection.
 * Columns: `sl local_address rem_address st tx_queue:rx_queue tr:when retrnsmt uid …`,
 * addresses as `HEXADDR:HEXPORT`.
 */
function farEndUid(text: string, farPort: number, ourPort: number): number | undefined {
  const far = `:${hexPort(farPort)}`;
  const ours = `:${hexPort(ourPort)}`;
  for (const line of text.split('\n')) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 8) continue;
    if (fields[1]!.endsWith(far) && fields[2]!.endsWith(ours)) return Number(fields[7]);
  }
  return undefined;
}

function hexPort(port: number): string {
  return port.toString(16).toUpperCase().padStart(4, '0');
}

function isLoopback(address: string): boolean {
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  return v4.startsWith('127.') || address === '::1';
}
