import { createPublicKey, randomBytes, verify } from 'node:crypto';
import { nodeProofPayload } from '@loopgate/protocol';

/** A fresh challenge for one socket's upgrade response: 32 random bytes, base64url. */
export function newChallenge(): string {
  return randomBytes(32).toString('base64url');
}

/**
 * Does `signature` prove the holder of `publicKey` answered this socket's
 * `challenge` (for `nodeId`, or for pairing without one)? Inputs arrive
 * length-checked by the connection-params schema, so the work is bounded: one
 * key import and one Ed25519 verify.
 */
export function verifyNodeProof(proof: {
  challenge: string;
  publicKey: string;
  signature: string;
  nodeId: string | undefined;
}): boolean {
  try {
    const key = createPublicKey({
      key: { kty: 'OKP', crv: 'Ed25519', x: proof.publicKey },
      format: 'jwk',
    });
    const payload = nodeProofPayload(proof.challenge, proof.publicKey, proof.nodeId);
    return verify(null, Buffer.from(payload), key, Buffer.from(proof.signature, 'base64url'));
  } catch {
    // A key that is not a point on the curve: no proof, same as a bad signature.
    return false;
  }
}
