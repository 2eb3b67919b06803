import { randomBytes } from 'node:crypto';

/** Short, typeable ids: `nd_` for nodes, `pr_` for pairing requests, `inv_` for invocations. */
export function newId(prefix: 'nd' | 'pr' | 'inv'): string {
  return `${prefix}_${randomHex(prefix === 'inv' ? 12 : 6)}`;
}

/**
 * Ids are minted on the invoke path, once per call: they come out of a 4 KiB
 * buffer of CSPRNG bytes refilled when spent (what `crypto.randomUUID` does
 * too) instead of one `randomBytes` call each, which cost ~10 µs of a
 * sequential `nodes.invoke` on the bench machine. Ids are unguessable but
 * not secrets.
 */
const POOL_BYTES = 4096;
let pool = Buffer.alloc(0);
let poolOffset = 0;

function randomHex(bytes: number): string {
  if (poolOffset + bytes > pool.length) {
    pool = randomBytes(POOL_BYTES);
    poolOffset = 0;
  }
  const hex = pool.toString('hex', poolOffset, poolOffset + bytes);
  poolOffset += bytes;
  return hex;
}
