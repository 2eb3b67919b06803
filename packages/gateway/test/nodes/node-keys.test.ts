import { type KeyObject, sign } from 'node:crypto';
import { newEd25519Key, nodeProofPayload } from '@loopgate/protocol';
import { describe, expect, it } from 'vitest';
import { newChallenge, verifyNodeProof } from '../../src/nodes/node-keys.js';

/**
 * A node's proof of its key, checked on its own: the gateway's challenge,
 * signed with Ed25519 over the payload that binds the challenge, the public
 * key and the node id. Over the wire: packages/tests nodes-identity.
 */
function keyPair(): { publicKey: string; privateKey: KeyObject } {
  return newEd25519Key();
}

function proofOf(
  key: { publicKey: string; privateKey: KeyObject },
  challenge: string,
  nodeId: string | undefined,
) {
  const payload = Buffer.from(nodeProofPayload(challenge, key.publicKey, nodeId));
  return {
    challenge,
    publicKey: key.publicKey,
    signature: sign(null, payload, key.privateKey).toString('base64url'),
    nodeId,
  };
}

describe('node key proofs', () => {
  it('issues a fresh 32-byte base64url challenge per socket', () => {
    const a = newChallenge();
    expect(a).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(a, 'base64url')).toHaveLength(32);
    expect(newChallenge()).not.toBe(a);
  });

  it('accepts the holder of the key answering this challenge, for this node id or for pairing', () => {
    const key = keyPair();
    const challenge = newChallenge();
    expect(verifyNodeProof(proofOf(key, challenge, 'node-1'))).toBe(true);
    expect(verifyNodeProof(proofOf(key, challenge, undefined))).toBe(true);
  });

  it('refuses a proof replayed on another challenge, for another node id, or signed by another key', () => {
    const key = keyPair();
    const challenge = newChallenge();
    const proof = proofOf(key, challenge, 'node-1');
    expect(verifyNodeProof({ ...proof, challenge: newChallenge() })).toBe(false);
    expect(verifyNodeProof({ ...proof, nodeId: 'node-2' })).toBe(false);
    expect(verifyNodeProof({ ...proof, nodeId: undefined })).toBe(false);
    const other = keyPair();
    expect(verifyNodeProof({ ...proof, publicKey: other.publicKey })).toBe(false);
    const byOther = proofOf(other, challenge, 'node-1');
    expect(verifyNodeProof({ ...proof, signature: byOther.signature })).toBe(false);
  });

  it('answers false, not a throw, for a key that is no Ed25519 point or a garbled signature', () => {
    const key = keyPair();
    const proof = proofOf(key, newChallenge(), 'node-1');
    expect(verifyNodeProof({ ...proof, publicKey: 'not-a-key' })).toBe(false);
    expect(verifyNodeProof({ ...proof, publicKey: '' })).toBe(false);
    expect(verifyNodeProof({ ...proof, signature: '' })).toBe(false);
    expect(verifyNodeProof({ ...proof, signature: proof.signature.slice(0, -4) })).toBe(false);
  });
});
