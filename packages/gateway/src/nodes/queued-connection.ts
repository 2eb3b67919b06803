import type { NodeInvocationMessage } from '@loopgate/protocol';
import type { NodeConnection } from './invoke-broker.js';

/**
 * A `NodeConnection` for pull-based transports (a tRPC subscription is an
 * async generator): `send` queues, `messages()` drains. Sending after the
 * stream ended throws, which the broker reads as "the node is gone".
 */
export class QueuedNodeConnection implements NodeConnection {
  readonly connectionId: string;
  readonly nodeId: string;
  readonly #close: (code: number, reason: string) => void;
  readonly #queue: NodeInvocationMessage[] = [];
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

  send(message: NodeInvocationMessage): void {
    if (this.#ended) throw new Error('node connection ended');
    this.#queue.push(message);
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

  async *messages(): AsyncGenerator<NodeInvocationMessage> {
    while (!this.#ended) {
      const next = this.#queue.shift();
      if (next) {
        yield next;
        continue;
      }
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
      this.#wake = undefined;
    }
  }
}
