import type { ConnectionInfo } from '../router/context.js';
import type { ConnectionTracker } from '../services.js';

/**
 * The one place connections are counted. Two kinds of entry, both needed by
 * different checks:
 *
 * - accepted sockets, authenticated or not, per address key (IPv6 by /64):
 *   admission's global and per-address caps count these, so a peer cannot
 *   dodge the cap by never authenticating;
 * - authenticated connections by id: `health`, `status`, presence, and the
 *   targeted closes of token rotation and revocation read these.
 */
export class ConnectionRegistry implements ConnectionTracker {
  readonly #live = new Map<string, ConnectionInfo>();
  readonly #socketsByAddress = new Map<string, number>();
  #sockets = 0;

  /** Counts one accepted socket from `addressKey`; call the returned function once when it closes. */
  socketAccepted(addressKey: string): () => void {
    this.#sockets++;
    this.#socketsByAddress.set(addressKey, (this.#socketsByAddress.get(addressKey) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#sockets--;
      const left = (this.#socketsByAddress.get(addressKey) ?? 1) - 1;
      if (left === 0) this.#socketsByAddress.delete(addressKey);
      else this.#socketsByAddress.set(addressKey, left);
    };
  }

  /** Accepted sockets, authenticated or not. */
  get socketCount(): number {
    return this.#sockets;
  }

  socketsFrom(addressKey: string): number {
    return this.#socketsByAddress.get(addressKey) ?? 0;
  }

  authenticated(info: ConnectionInfo): void {
    this.#live.set(info.id, info);
  }

  closed(connectionId: string): void {
    this.#live.delete(connectionId);
  }

  *all(): Iterable<ConnectionInfo> {
    yield* this.#live.values();
  }

  counts(): { operators: number; nodes: number; total: number } {
    let operators = 0;
    let nodes = 0;
    for (const info of this.#live.values()) {
      if (info.role === 'operator') operators++;
      else nodes++;
    }
    return { operators, nodes, total: this.#live.size };
  }
}
