import { randomBytes, sign } from 'node:crypto';
import { newEd25519Key, nodeProofPayload } from '@loopgate/protocol';
import type { NodeSocket, PairingSocket } from '../../src/nodes/index.js';

/** Sockets and node keys for driving NodeService without a transport. */

export type FakeSocket = NodeSocket & { closes: Array<{ code: number; reason: string }> };

let seq = 0;
export function socket(
  role: NodeSocket['role'],
  nodeId?: string,
  isLoopback = false,
  remoteAddress = isLoopback ? '127.0.0.1' : '192.0.2.7',
): FakeSocket {
  const controller = new AbortController();
  const closes: FakeSocket['closes'] = [];
  return {
    id: `conn-${++seq}`,
    role,
    nodeId,
    remoteAddress,
    isLoopback,
    closed: controller.signal,
    closes,
    close(code, reason) {
      closes.push({ code, reason });
      controller.abort();
    },
  };
}

/** A pairing socket that proved `key` at connect. */
export function pairingSocket(
  key: TestNodeKey,
  options: { isLoopback?: boolean; remoteAddress?: string } = {},
): FakeSocket & PairingSocket {
  return {
    ...socket('pairing', undefined, options.isLoopback ?? false, options.remoteAddress),
    nodeKey: key.publicKey,
  };
}

export type TestNodeKey = {
  publicKey: string;
  /** What a node puts in connectionParams for `challenge` (pairing without a node id). */
  proof(
    challenge: string,
    nodeId?: string,
  ): { publicKey: string; signature: string; nodeId: string | undefined };
};

/** A real Ed25519 key, signing exactly what a node signs. */
export function testNodeKey(): TestNodeKey {
  const { privateKey, publicKey } = newEd25519Key();
  return {
    publicKey,
    proof: (challenge, nodeId) => ({
      publicKey,
      signature: sign(
        null,
        Buffer.from(nodeProofPayload(challenge, publicKey, nodeId)),
        privateKey,
      ).toString('base64url'),
      nodeId,
    }),
  };
}

export function testChallenge(): string {
  return randomBytes(32).toString('base64url');
}
