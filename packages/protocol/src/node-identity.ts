import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
} from 'node:crypto';
import * as z from 'zod';

/**
 * Node identity: each node holds an Ed25519 key pair and proves it on every
 * connect by signing the gateway's one-time challenge. Shared by the gateway
 * (verifies, derives the pairing code) and the node (signs, prints its code),
 * so both sides compute the same bytes.
 */

/** The upgrade-response header carrying the gateway's one-time challenge for this socket. */
export const NODE_CHALLENGE_HEADER = 'x-loopgate-challenge';

/** An Ed25519 public key: its 32 raw bytes, base64url (the JWK `x`). */
export const NodePublicKey = z
  .string()
  .regex(/^[A-Za-z0-9_-]{43}$/, { error: 'expected an Ed25519 public key (43 base64url chars)' });

/** An Ed25519 signature: 64 bytes, base64url. */
export const NodeSignature = z
  .string()
  .regex(/^[A-Za-z0-9_-]{86}$/, { error: 'expected an Ed25519 signature (86 base64url chars)' });

/** A challenge as the gateway issues it: 32 random bytes, base64url. */
export const NodeChallenge = z.string().regex(/^[A-Za-z0-9_-]{43}$/);

/**
 * What a node signs. The purpose string keeps a signature made for one job
 * (pairing, connecting as a paired node) from being replayed for the other;
 * the challenge is fresh per socket, so a signature is useless elsewhere; the
 * node id binds it to the identity claimed.
 */
export function nodeProofPayload(challenge: string, publicKey: string, nodeId?: string): string {
  const purpose = nodeId === undefined ? 'loopgate-node-pair-v1' : 'loopgate-node-connect-v1';
  return `${purpose}\n${challenge}\n${publicKey}\n${nodeId ?? ''}`;
}

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/**
 * The code an operator compares between the node's output and
 * `loopgate nodes pending` before approving: the first 40 bits of the
 * SHA-256 of the raw public key, as 8 base32 characters, shown `ABCD-EFGH`.
 */
export function pairingCodeOf(publicKey: string): string {
  const digest = createHash('sha256').update(Buffer.from(publicKey, 'base64url')).digest();
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of digest) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5 && out.length < 8) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
    if (out.length === 8) break;
    value &= (1 << bits) - 1;
  }
  return `${out.slice(0, 4)}-${out.slice(4)}`;
}

/** `abcd efgh`, `ABCDEFGH`, `abcd-efgh` → `ABCD-EFGH`; anything else → undefined. */
export function normalizePairingCode(text: string): string | undefined {
  const compact = text.replace(/[\s-]/g, '').toUpperCase();
  if (!/^[A-Z2-7]{8}$/.test(compact)) return undefined;
  return `${compact.slice(0, 4)}-${compact.slice(4)}`;
}

/**
 * A new Ed25519 key pair: the private key, and the raw public key as
 * base64url (the JWK `x`). The key is read back from its PKCS#8 bytes, not
 * taken from the generation job: on Node 20 a JWK export of the job's own
 * key can deadlock the thread for good (the export holds the key's mutex
 * while it allocates; a GC in that allocation finalizes the job, whose
 * destructor waits on the same mutex). A test worker stopped that way.
 */
export function newEd25519Key(): { privateKey: KeyObject; publicKey: string } {
  const { privateKey: pkcs8 } = generateKeyPairSync('ed25519', {
    privateKeyEncoding: { format: 'der', type: 'pkcs8' },
    publicKeyEncoding: { format: 'der', type: 'spki' },
  });
  const privateKey = createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' });
  const publicKey = createPublicKey(privateKey).export({ format: 'jwk' }).x;
  if (typeof publicKey !== 'string') throw new Error('Ed25519 key without a public x');
  return { privateKey, publicKey };
}
