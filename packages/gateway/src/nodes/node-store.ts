import { readFile } from 'node:fs/promises';
import { GatewayError } from '@loopgate/protocol';
import { z } from 'zod';
import { writeJsonAtomic } from '../store/index.js';

const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/);

/** One paired node as persisted in `<stateDir>/nodes.json`. Secrets only as SHA-256. */
export const PairedNodeRecord = z.object({
  nodeId: z.string().min(1),
  name: z.string().min(1),
  platform: z.string(),
  version: z.string().optional(),
  approvedCommands: z.array(z.string()),
  declaredCommands: z.array(z.string()),
  /** Null until the node has collected its token. */
  tokenHash: sha256Hex.nullable(),
  /**
   * The node's pairing key, kept until the node first authenticates with its
   * token: until then it may collect a (fresh) token again, e.g. when the
   * approval happened while it was disconnected or the gateway restarted.
   */
  claimKeyHash: sha256Hex.nullable(),
  pairedAt: z.number(),
  lastSeenAt: z.number().nullable(),
});
export type PairedNodeRecord = z.infer<typeof PairedNodeRecord>;

const NodesFile = z.object({ version: z.literal(1), nodes: z.array(PairedNodeRecord) });

/**
 * The pairing state on disk. Every write is atomic (temp + fsync + rename +
 * directory fsync) and writes are serialised, so the file is always one
 * complete snapshot, the newest one last.
 */
export class NodeStateFile {
  readonly #path: string;
  #queue: Promise<void> = Promise.resolve();

  constructor(path: string) {
    this.#path = path;
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
    return parsed.data.nodes;
  }

  /** Writes `nodes` after any write already queued; rejects if this write fails. */
  save(nodes: readonly PairedNodeRecord[]): Promise<void> {
    const snapshot = { version: 1 as const, nodes: nodes.map((n) => ({ ...n })) };
    const write = this.#queue.then(() => writeJsonAtomic(this.#path, snapshot, { mode: 0o600 }));
    this.#queue = write.catch(() => {});
    return write;
  }

  /** Resolves once every queued write has finished. */
  flush(): Promise<void> {
    return this.#queue;
  }
}
