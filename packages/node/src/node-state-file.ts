import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

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

/** Temp file, full write, fsync, rename, fsync the directory: never a torn token file. */
export async function saveNodeState(path: string, state: NodeState): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  let handle: Awaited<ReturnType<typeof open>> | undefined;
  try {
    handle = await open(tmp, 'wx', 0o600);
    await handle.writeFile(`${JSON.stringify(state, null, 2)}\n`);
    await handle.sync();
    await handle.close();
    handle = undefined;
    await rename(tmp, path);
  } catch (error) {
    await handle?.close().catch(() => {});
    await rm(tmp, { force: true }).catch(() => {});
    throw error;
  }
  const dirHandle = await open(dir, 'r');
  try {
    await dirHandle.sync();
  } finally {
    await dirHandle.close();
  }
}

export function newPairingKey(): string {
  return randomBytes(32).toString('base64url');
}
