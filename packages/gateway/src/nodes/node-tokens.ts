import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Node credentials. A node token (and a node's pairing key) is stored only as
 * its SHA-256; presented secrets are hashed too and compared with
 * `timingSafeEqual`, so neither the comparison time nor the state file tells
 * anything about the secret.
 */

const TOKEN_PREFIX = 'lgn_';
/** Longer than any token we mint: refuse before hashing megabytes. */
const MAX_SECRET_LENGTH = 256;

export function mintNodeToken(): string {
  return TOKEN_PREFIX + randomBytes(32).toString('base64url');
}

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/** Constant-time check of a presented secret against a stored SHA-256 hex digest. */
export function secretMatchesHash(presented: string, storedHash: string): boolean {
  if (presented.length === 0 || presented.length > MAX_SECRET_LENGTH) return false;
  const a = Buffer.from(hashSecret(presented), 'hex');
  const b = Buffer.from(storedHash, 'hex');
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Short, typeable ids: `nd_` for nodes, `pr_` for pairing requests, `inv_` for invocations. */
export function newId(prefix: 'nd' | 'pr' | 'inv'): string {
  return `${prefix}_${randomHex(prefix === 'inv' ? 12 : 6)}`;
}

/**
 * Ids are minted on the invoke path, once per call: they come out of a 4 KiB
 * buffer of CSPRNG bytes refilled when spent (what `crypto.randomUUID` does
 * too) instead of one `randomBytes` call each, which cost ~10 µs of a
 * sequential `nodes.invoke` on the bench machine. Ids are unguessable but
 * not secrets; tokens keep their own `randomBytes` call.
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
