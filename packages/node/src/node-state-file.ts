import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { writeJsonAtomic } from '@loopgate/protocol';

/**
 * What a node remembers between runs, in `<stateDir>/node-<name>.json`
 * (mode 0600): its pairing key while it waits for approval, then its node
 * id and token.
 */
export type NodeState = {
  version: 1;
  name: string;
  /** Proves to the gateway that a reconnecting node is the one that asked to pair. */
  pairingKey?: string;
  nodeId?: string;
  nodeToken?: string;
  /** Where the token is valid (shown to the operator, never sent). */
  gatewayUrl?: string;
};

export function nodeStatePath(stateDir: string, name: string): string {
  return join(stateDir, `node-${name}.json`);
}

export async function loadNodeState(path: string, name: string): Promise<NodeState> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1, name };
    throw error;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new Error(
      `the node state file ${basename(path)} is not valid JSON; fix or delete it to pair again`,
    );
  }
  const state = parsed as Partial<NodeState> | null;
  if (state === null || typeof state !== 'object' || state.version !== 1) {
    throw new Error(
      `the node state file ${basename(path)} has an unknown format; delete it to pair again`,
    );
  }
  const str = (v: unknown) => (typeof v === 'string' && v.length > 0 ? v : undefined);
  const out: NodeState = { version: 1, name };
  const pairingKey = str(state.pairingKey);
  const nodeId = str(state.nodeId);
  const nodeToken = str(state.nodeToken);
  const gatewayUrl = str(state.gatewayUrl);
  if (pairingKey) out.pairingKey = pairingKey;
  if (nodeId) out.nodeId = nodeId;
  if (nodeToken) out.nodeToken = nodeToken;
  if (gatewayUrl) out.gatewayUrl = gatewayUrl;
  return out;
}

/** Atomic (temp, fsync, rename, directory fsync) and private: never a torn or readable token file. */
export async function saveNodeState(path: string, state: NodeState): Promise<void> {
  await writeJsonAtomic(path, state, { mode: 0o600 });
}

export function newPairingKey(): string {
  return randomBytes(32).toString('base64url');
}
