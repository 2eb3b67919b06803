import { GatewayError } from '@loopgate/protocol';

export type PairingQuotaLimits = {
  maxConnections: number;
  maxPairingConnections: number;
  maxPairingConnectionsPerAddress: number;
  reservedOperatorConnections: number;
};

/**
 * How many unpaired nodes (role `pairing`: no credential at all) may hold a
 * socket: a few in total, fewer per address, and never in the room kept for
 * operators under `maxConnections`. A pairing peer is otherwise a stranger
 * holding a socket for as long as an operator takes to decide.
 */
export class PairingQuota {
  readonly #limits: PairingQuotaLimits;
  readonly #byAddress = new Map<string, number>();
  #total = 0;

  constructor(limits: PairingQuotaLimits) {
    this.#limits = limits;
  }

  /** Places under `maxConnections` only operators (and nodes with a token) may take. */
  get reserved(): number {
    const { maxConnections, reservedOperatorConnections } = this.#limits;
    return Math.min(reservedOperatorConnections, Math.floor(maxConnections / 4));
  }

  get total(): number {
    return this.#total;
  }

  /**
   * Takes a place for a pairing socket from `addressKey` (IPv6: its /64), or
   * throws LIMIT_EXCEEDED naming the cap. Every successful call is matched
   * by one `release`.
   */
  acquire(addressKey: string): void {
    const limits = this.#limits;
    const fromAddress = this.#byAddress.get(addressKey) ?? 0;
    let refusal: string | undefined;
    if (this.#total >= limits.maxPairingConnections)
      refusal = `${this.#total} unpaired nodes are connected (gateway.limits.maxPairingConnections)`;
    else if (fromAddress >= limits.maxPairingConnectionsPerAddress)
      refusal = `${fromAddress} unpaired nodes are connected from this address (gateway.limits.maxPairingConnectionsPerAddress)`;
    else if (this.#total >= limits.maxConnections - this.reserved)
      refusal = `the last ${this.reserved} of ${limits.maxConnections} connections are kept for operators (gateway.limits.reservedOperatorConnections)`;
    if (refusal !== undefined) {
      throw new GatewayError('LIMIT_EXCEEDED', `pairing refused for now: ${refusal}; retry later`);
    }
    this.#total++;
    this.#byAddress.set(addressKey, fromAddress + 1);
  }

  release(addressKey: string): void {
    const left = (this.#byAddress.get(addressKey) ?? 1) - 1;
    if (left <= 0) this.#byAddress.delete(addressKey);
    else this.#byAddress.set(addressKey, left);
    this.#total = Math.max(0, this.#total - 1);
  }
}
