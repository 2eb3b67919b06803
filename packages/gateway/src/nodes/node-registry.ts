import { commandPatternMatches, GatewayError } from '@loopgate/protocol';
import type { Logger } from 'pino';
import { NodeStateFile, type PairedNodeRecord } from './node-store.js';

/**
 * The paired nodes, in memory and in `<stateDir>/nodes.json`. Changes an
 * operator asked for (approve, remove) are written before they count and
 * rolled back when the write fails; bookkeeping that can be rebuilt (last
 * seen, declared commands) is saved quietly.
 */
export class NodeRegistry {
  readonly #file: NodeStateFile;
  readonly #log: Pick<Logger, 'warn' | 'error'>;
  readonly #nodes = new Map<string, PairedNodeRecord>();

  constructor(options: { path: string; log: Pick<Logger, 'warn' | 'error'> }) {
    this.#file = new NodeStateFile(options.path);
    this.#log = options.log;
  }

  async load(): Promise<void> {
    const records = await this.#file.load();
    this.#nodes.clear();
    for (const record of records) this.#nodes.set(record.nodeId, record);
  }

  get size(): number {
    return this.#nodes.size;
  }

  all(): PairedNodeRecord[] {
    return [...this.#nodes.values()];
  }

  get(nodeId: string): PairedNodeRecord | undefined {
    return this.#nodes.get(nodeId);
  }

  /** By id (exact) or name (case-insensitive). */
  find(ref: string): PairedNodeRecord | undefined {
    const byId = this.#nodes.get(ref);
    if (byId) return byId;
    return this.findByName(ref);
  }

  findByName(name: string): PairedNodeRecord | undefined {
    const lower = name.toLowerCase();
    for (const record of this.#nodes.values())
      if (record.name.toLowerCase() === lower) return record;
    return undefined;
  }

  findByKey(publicKey: string): PairedNodeRecord | undefined {
    for (const record of this.#nodes.values()) if (record.publicKey === publicKey) return record;
    return undefined;
  }

  /** Adds a node and waits until it is on disk; a failed write leaves the registry as it was. */
  async add(record: PairedNodeRecord): Promise<void> {
    this.#nodes.set(record.nodeId, record);
    try {
      await this.#file.save(this.all());
    } catch (error) {
      this.#nodes.delete(record.nodeId);
      throw this.#writeFailed(error);
    }
  }

  /** Removes a node and waits until that is on disk; a failed write keeps the node. */
  async remove(record: PairedNodeRecord): Promise<void> {
    this.#nodes.delete(record.nodeId);
    try {
      await this.#file.save(this.all());
    } catch (error) {
      this.#nodes.set(record.nodeId, record);
      throw this.#writeFailed(error);
    }
  }

  /** For state that can be rebuilt (last seen, declared commands): a failed write is logged, not fatal. */
  async saveQuietly(): Promise<void> {
    try {
      await this.#file.save(this.all());
    } catch (error) {
      this.#log.warn({ err: errorCode(error) }, 'could not save node state');
    }
  }

  /** Writes what is in memory now and waits for every queued write. */
  async flush(): Promise<void> {
    await this.saveQuietly();
    await this.#file.flush();
  }

  #writeFailed(error: unknown): GatewayError {
    this.#log.error({ err: errorCode(error) }, 'could not save node state');
    return new GatewayError(
      'UNAVAILABLE',
      'could not save the pairing state (is the state dir full or read-only?)',
    );
  }
}

/** Declared by the node and covered by its approval. */
export function allowedCommands(record: PairedNodeRecord): string[] {
  return record.declaredCommands.filter((c) =>
    record.approvedCommands.some((p) => commandPatternMatches(p, c)),
  );
}

/** Only the errno code goes to the log: messages can carry paths. */
function errorCode(error: unknown): string {
  return (error as NodeJS.ErrnoException)?.code ?? 'unknown';
}
