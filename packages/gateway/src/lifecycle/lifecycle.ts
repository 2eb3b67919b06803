/** Closes one part; `reason` is what stop() was given, or why the start failed. */
type Close = (reason: string) => Promise<void> | void;

/** Called by `open` for each thing it has opened, with how to close it again. */
export type MarkOpened<Name extends string> = (name: Name, close: Close) => void;

export type LifecycleOptions<Name extends string> = {
  /**
   * The order `stop()` closes in. A failed start closes what it had opened
   * in the same order, so there is one shutdown path to reason about.
   */
  stopOrder: readonly Name[];
  /** Opens everything, calling `opened` after each part that will need closing. */
  open(opened: MarkOpened<Name>): Promise<void>;
  /** First thing a stop of a started service does (e.g. tell clients why). */
  beforeStop?(reason: string): void;
  /** Last thing a stop does, once everything is closed. */
  afterStop?(reason: string): void;
  /** A close that threw: the others still run; stop() rethrows the first at the end. */
  onCloseError(name: Name, error: unknown): void;
};

export type LifecyclePhase = 'stopped' | 'starting' | 'started' | 'stopping';

/**
 * start/stop of something that opens several parts in turn (a state lock,
 * files, sockets). `start()` is started only once every part is open; if
 * one fails, the parts already open are closed and the error is rethrown,
 * so `start()` can simply be called again. Calls never overlap:
 *
 * - `start()` while starting returns the same promise; while started it
 *   resolves at once; while stopping it waits for the stop, then starts;
 * - `stop()` while stopped resolves at once; while stopping returns the same
 *   promise; while starting it waits for the start to settle, then stops.
 */
export class Lifecycle<Name extends string> {
  readonly #opts: LifecycleOptions<Name>;
  readonly #opened = new Map<Name, Close>();
  #phase: LifecyclePhase = 'stopped';
  #transition: Promise<void> = Promise.resolve();

  constructor(options: LifecycleOptions<Name>) {
    this.#opts = options;
  }

  get phase(): LifecyclePhase {
    return this.#phase;
  }

  /** Names of the parts open right now, in the order they were opened. */
  get openParts(): Name[] {
    return [...this.#opened.keys()];
  }

  start(): Promise<void> {
    if (this.#phase === 'started') return Promise.resolve();
    if (this.#phase === 'starting') return this.#transition;
    if (this.#phase === 'stopping') return this.#transition.then(() => this.start());
    this.#phase = 'starting';
    this.#transition = this.#start();
    return this.#transition;
  }

  stop(reason: string): Promise<void> {
    if (this.#phase === 'stopped') return Promise.resolve();
    if (this.#phase === 'stopping') return this.#transition;
    if (this.#phase === 'starting') {
      // A start that fails has already closed what it opened: nothing left to stop.
      return this.#transition.then(
        () => this.stop(reason),
        () => undefined,
      );
    }
    this.#phase = 'stopping';
    this.#transition = this.#stop(reason);
    return this.#transition;
  }

  async #start(): Promise<void> {
    try {
      await this.#opts.open((name, close) => this.#opened.set(name, close));
    } catch (error) {
      // A short fixed reason: it may become a WebSocket close reason (at most 123 bytes).
      await this.#closeOpened('start failed');
      this.#phase = 'stopped';
      throw error;
    }
    this.#phase = 'started';
  }

  async #stop(reason: string): Promise<void> {
    try {
      this.#opts.beforeStop?.(reason);
      const errors = await this.#closeOpened(reason);
      this.#opts.afterStop?.(reason);
      if (errors.length > 0) throw errors[0];
    } finally {
      this.#phase = 'stopped';
    }
  }

  async #closeOpened(reason: string): Promise<unknown[]> {
    const ordered = this.#opts.stopOrder.filter((name) => this.#opened.has(name));
    // A part missing from stopOrder still gets closed, last and newest first.
    const unlisted = [...this.#opened.keys()].filter((n) => !ordered.includes(n)).reverse();
    const errors: unknown[] = [];
    for (const name of [...ordered, ...unlisted]) {
      const close = this.#opened.get(name)!;
      this.#opened.delete(name);
      try {
        await close(reason);
      } catch (error) {
        errors.push(error);
        this.#opts.onCloseError(name, error);
      }
    }
    return errors;
  }
}
