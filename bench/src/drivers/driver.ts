/** One connection that can make the shape's request and wait for its answer. */
export interface Caller {
  call(): Promise<unknown>;
  close(): Promise<void>;
}

/** One connection subscribed to the server's event stream, counting what arrives. */
export interface Subscriber {
  readonly received: number;
  /** Resolves once `received` reaches `count` (bounded by `timeoutMs`). */
  waitFor(count: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

/** The system under test as the bench sees it: how to open callers and subscribers. */
export interface System {
  readonly name: string;
  connect(): Promise<Caller>;
  subscribe(): Promise<Subscriber>;
}

/** Counts events and wakes one waiter when a target count is reached. */
export class EventCounter implements Pick<Subscriber, 'received' | 'waitFor'> {
  received = 0;
  #target = Number.POSITIVE_INFINITY;
  #resolve: (() => void) | undefined;

  /** Hot path: one increment and one compare per event. */
  tick(): void {
    if (++this.received >= this.#target) {
      this.#target = Number.POSITIVE_INFINITY;
      const resolve = this.#resolve;
      this.#resolve = undefined;
      resolve?.();
    }
  }

  waitFor(count: number, timeoutMs = 60_000): Promise<void> {
    if (this.received >= count) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new Error(`only ${this.received} of ${count} events arrived within ${timeoutMs} ms`),
          ),
        timeoutMs,
      );
      this.#target = count;
      this.#resolve = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}
