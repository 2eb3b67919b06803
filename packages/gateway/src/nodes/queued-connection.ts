import type { NodeInvocationMessage } from '@loopgate/protocol';
import type { NodeConnection } from './invoke-broker.js';

/** A message for the node, with its JSON text when the broker made it. */
export type QueuedMessage = { message: NodeInvocationMessage; json: string | undefined };

/**
 * A `NodeConnection` for pull-based transports (a tRPC subscription is an
 * async generator): `send` queues, `batches()` drains. Sending after the
 * stream ended throws, which the broker reads as "the node is gone".
 */
export class QueuedNodeConnection implements NodeConnection {
  readonly connectionId: string;
  readonly nodeId: string;
  readonly #close: (code: number, reason: string) => void;
  readonly #queue: QueuedMessage[] = [];
  #wake: (() => void) | undefined;
  #ended = false;

  constructor(options: {
    connectionId: string;
    nodeId: string;
    close: (code: number, reason: string) => void;
  }) {
    this.connectionId = options.connectionId;
    this.nodeId = options.nodeId;
    this.#close = options.close;
  }

  get ended(): boolean {
    return this.#ended;
  }

  send(message: NodeInvocationMessage, json?: string): void {
    if (this.#ended) throw new Error('node connection ended');
    this.#queue.push({ message, json });
    this.#wake?.();
  }

  close(code: number, reason: string): void {
    this.end();
    this.#close(code, reason);
  }

  /** Stops the stream; queued messages that were not yet taken are dropped. */
  end(): void {
    this.#ended = true;
    this.#queue.length = 0;
    this.#wake?.();
  }

  /**
   * Everything queued so far, oldest first, each time there is something:
   * a turn's invocations (16 and more with many in flight) cost one step
   * of the stream, not one async-generator round trip each.
   */
  async *batches(): AsyncGenerator<QueuedMessage[]> {
    while (!this.#ended) {
      if (this.#queue.length > 0) {
        yield this.#queue.splice(0);
        continue;
      }
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
      this.#wake = undefined;
    }
  }
}
