import { createPrivateKey, createPublicKey, type KeyObject, sign } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import {
  newEd25519Key,
  nodeProofPayload,
  pairingCodeOf,
  writeFileAtomic,
} from '@loopgate/protocol';

/**
 * A node's identity: an Ed25519 key pair. The private key never leaves the
 * node; on every connect the node signs the gateway's one-time challenge, so
 * nothing it sends can be replayed and nothing in its state is a bearer
 * credential for the gateway.
 */
export class NodeKey {
  /** The raw public key, base64url (what the gateway stores and pairs). */
  readonly publicKey: string;
  /** What the operator compares with `loopgate nodes pending` before approving. */
  readonly pairingCode: string;
  readonly #privateKey: KeyObject;

  constructor(privateKey: KeyObject) {
    this.#privateKey = privateKey;
    const jwk = createPublicKey(privateKey).export({ format: 'jwk' });
    if (jwk.crv !== 'Ed25519' || typeof jwk.x !== 'string') {
      throw new Error('a node key must be an Ed25519 key');
    }
    this.publicKey = jwk.x;
    this.pairingCode = pairingCodeOf(jwk.x);
  }

  static generate(): NodeKey {
    return new NodeKey(newEd25519Key().privateKey);
  }

  /** connectionParams for one socket: pairing without `nodeId`, a paired node with it. */
  prove(
    challenge: string,
    nodeId?: string,
  ): { nodeKey: string; nodeSignature: string; nodeId?: string } {
    const payload = Buffer.from(nodeProofPayload(challenge, this.publicKey, nodeId));
    const signature = sign(null, payload, this.#privateKey).toString('base64url');
    return {
      nodeKey: this.publicKey,
      nodeSignature: signature,
      ...(nodeId !== undefined ? { nodeId } : {}),
    };
  }

  toPem(): string {
    return this.#privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  }
}

/** `<stateDir>/node-<name>.key`: the private key, PKCS#8 PEM, mode 0600. */
export function nodeKeyPath(stateDir: string, name: string): string {
  return join(stateDir, `node-${name}.key`);
}

/** The node's key from `path`, generated (and written 0600, atomically) on first run. */
export async function loadOrCreateNodeKey(path: string): Promise<NodeKey> {
  let pem: string | undefined;
  try {
    pem = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  if (pem === undefined) {
    const key = NodeKey.generate();
    await writeFileAtomic(path, key.toPem(), { mode: 0o600 });
    return key;
  }
  try {
    return new NodeKey(createPrivateKey(pem));
  } catch {
    throw new Error(
      `the node key ${basename(path)} is not an Ed25519 private key; move it away to pair again with a new key`,
    );
  }
}
