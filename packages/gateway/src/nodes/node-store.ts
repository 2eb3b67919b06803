import { readFile } from 'node:fs/promises';
import { GatewayError, NodePublicKey } from '@loopgate/protocol';
import * as z from 'zod';
import { writeJsonAtomic } from '../store/index.js';

/** One paired node as persisted in `<stateDir>/nodes.json`. No secrets: only the node's public key. */
export const PairedNodeRecord = z.object({
  nodeId: z.string().min(1),
  name: z.string().min(1),
  platform: z.string(),
  version: z.string().optional(),
  approvedCommands: z.array(z.string()),
  declaredCommands: z.array(z.string()),
  /**
   * The Ed25519 key the node proves on every connect. Null for a node paired
   * with a bearer token before node keys existed: it cannot connect until an
   * operator removes it and pairs it again (see docs/nodes.md).
   */
  publicKey: NodePublicKey.nullable(),
  pairedAt: z.number(),
  lastSeenAt: z.number().nullable(),
});
export type PairedNodeRecord = z.infer<typeof PairedNodeRecord>;

/** The version-1 record (token hashes); read so an upgrade keeps the list, its token never used again. */
const TokenPairedRecord = PairedNodeRecord.omit({ publicKey: true }).extend({
  tokenHash: z.string().nullable(),
  claimKeyHash: z.string().nullable(),
});

const NodesFile = z.discriminatedUnion('version', [
  z.object({ version: z.literal(2), nodes: z.array(PairedNodeRecord) }),
  z.object({ version: z.literal(1), nodes: z.array(TokenPairedRecord) }),
]);

/** How a snapshot reaches the disk (the default is the atomic JSON write). */
export type SnapshotWriter = (path: string, value: unknown) => Promise<void>;

/**
 * The pairing state on disk (version 2; version 1 is read and rewritten). Every write is atomic (temp + fsync + rename +
 * directory fsync) and writes are serialised, so the file is always one
 * complete snapshot, the newest one last.
 *
 * Saves that arrive while a write is running are coalesced into the one
 * write queued behind it, which takes the newest snapshot: a fleet pairing
 * at once costs a few whole-file writes, not one per node (the bench's
 * 1 000-node shape did 1 000 fsynced rewrites of a growing file, O(n²)).
 */
export class NodeStateFile {
  readonly #path: string;
  readonly #write: SnapshotWriter;
  #queue: Promise<void> = Promise.resolve();
  /** The write waiting behind the running one; later saves replace its snapshot. */
  #next: { nodes: readonly PairedNodeRecord[]; done: Promise<void> } | undefined;

  constructor(path: string, options: { write?: SnapshotWriter } = {}) {
    this.#path = path;
    this.#write =
      options.write ?? ((target, value) => writeJsonAtomic(target, value, { mode: 0o600 }));
  }

  /** Missing file: no nodes yet. A file that does not parse is refused rather than overwritten. */
  async load(): Promise<PairedNodeRecord[]> {
    let text: string;
    try {
      text = await readFile(this.#path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new GatewayError(
        'INTERNAL',
        'nodes.json in the state dir is not valid JSON; fix or move it away',
      );
    }
    const parsed = NodesFile.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const where = issue
        ? `${issue.path.join('.') || '(root)'}: ${issue.message}`
        : 'unexpected shape';
      throw new GatewayError(
        'INTERNAL',
        `nodes.json in the state dir is invalid (${where}); fix or move it away`,
      );
    }
    if (parsed.data.version === 2) return parsed.data.nodes;
    return parsed.data.nodes.map(({ tokenHash: _t, claimKeyHash: _c, ...record }) => ({
      ...record,
      publicKey: null,
    }));
  }

  /**
   * Resolves once a write that includes `nodes` (or a newer snapshot) is on
   * disk; rejects if that write fails. The records are serialised when the
   * write starts, so they carry every change made up to then.
   */
  save(nodes: readonly PairedNodeRecord[]): Promise<void> {
    if (this.#next) {
      this.#next.nodes = nodes;
      return this.#next.done;
    }
    const next: { nodes: readonly PairedNodeRecord[]; done: Promise<void> } = {
      nodes,
      done: this.#queue.then(() => {
        // From here on a save queues behind this write instead of joining it.
        this.#next = undefined;
        return this.#write(this.#path, { version: 2, nodes: next.nodes });
      }),
    };
    this.#next = next;
    // The queue only orders writes; each caller gets the write's own error through `next.done`.
    this.#queue = next.done.catch(() => {});
    return next.done;
  }

  /** Resolves once every queued write has finished. */
  flush(): Promise<void> {
    return this.#queue;
  }
}
