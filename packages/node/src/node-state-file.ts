import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { writeJsonAtomic } from '@loopgate/protocol';

/**
 * What a node remembers between runs, in `<stateDir>/node-<name>.json`
 * (mode 0600): which node id the gateway gave it. Nothing in it is a
 * credential — the node proves itself with its key (`node-<name>.key`).
 */
export type NodeState = {
  version: 2;
  name: string;
  nodeId?: string;
  /** The gateway that paired this node (shown to the operator, never sent). */
  gatewayUrl?: string;
};

export function nodeStatePath(stateDir: string, name: string): string {
  return join(stateDir, `node-${name}.json`);
}

/**
 * Reads the state; a version-1 file (node token, pairing key) is read for its
 * name only: a token is useless now, and the next save drops it from disk.
 */
export async function loadNodeState(path: string, name: string): Promise<NodeState> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { version: 2, name };
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
  const state = parsed as Partial<Omit<NodeState, 'version'>> & { version?: unknown };
  if (state === null || typeof state !== 'object' || (state.version !== 1 && state.version !== 2)) {
    throw new Error(
      `the node state file ${basename(path)} has an unknown format; delete it to pair again`,
    );
  }
  const out: NodeState = { version: 2, name };
  if (state.version === 1) return out;
  const str = (v: unknown) => (typeof v === 'string' && v.length > 0 ? v : undefined);
  const nodeId = str(state.nodeId);
  const gatewayUrl = str(state.gatewayUrl);
  if (nodeId) out.nodeId = nodeId;
  if (gatewayUrl) out.gatewayUrl = gatewayUrl;
  return out;
}

/**
 * A version-1 state file (from before node keys) holds a bearer token: rewrite
 * it without, so the token leaves the disk on the first start of this version.
 * Returns whether there was one.
 */
export async function dropLegacyNodeToken(path: string, name: string): Promise<boolean> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
  let legacy = false;
  try {
    legacy = (JSON.parse(text) as { version?: unknown } | null)?.version === 1;
  } catch {
    // not JSON: loadNodeState reports it with the file name
    return false;
  }
  if (legacy) await saveNodeState(path, { version: 2, name });
  return legacy;
}

/** Atomic (temp, fsync, rename, directory fsync) and private. */
export async function saveNodeState(path: string, state: NodeState): Promise<void> {
  await writeJsonAtomic(path, state, { mode: 0o600 });
}
