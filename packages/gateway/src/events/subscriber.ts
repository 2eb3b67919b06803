import { type GatewayEvent, isPlainJson } from '@loopgate/protocol';

export type SequencedEvent = { seq: number; event: GatewayEvent };

/**
 * A live entry carries its event's JSON text when the wire sends it as is
 * (plain JSON under superjson): the log line already stringified it, so a
 * subscriber's frame reuses those bytes instead of stringifying it again.
 * Whether the event is plain JSON is asked on the first read: with no
 * subscriber (a gateway driven by the CLI and scripts) nobody asks, and
 * every `nodes.invoke` emits an event.
 */
export class LiveEntry implements SequencedEvent {
  readonly #json: string | undefined;
  #plain: boolean | undefined;

  constructor(
    readonly seq: number,
    readonly event: GatewayEvent,
    readonly durable: boolean,
    json?: string,
  ) {
    this.#json = json;
  }

  get wireJson(): string | undefined {
    if (this.#json === undefined) return undefined;
    this.#plain ??= isPlainJson(this.event);
    return this.#plain ? this.#json : undefined;
  }
}
export type Listener = (entry: LiveEntry) => void;

/** How a subscription shapes each event it yields (see `EventBus.subscribeAs`). */
export type ShapeEvent<T> = (id: string, event: GatewayEvent, wireJson: string | undefined) => T;

/**
 * One subscriber's side of the bus: the event types it wants, the live
 * entries queued for it (bounded: past `maxQueued` the queue is dropped and
 * the subscriber marked lagging, to be told with a gap marker), the last
 * durable id it was given, and the wake-up of its loop when it waits.
 */
export class Subscriber {
  /** The last durable seq delivered (replayed or live): what a gap marker says was missed from. */
  delivered = 0;
  readonly #prefixes: readonly string[] | undefined;
  readonly #maxQueued: number;
  #queue: LiveEntry[] = [];
  #lagging = false;
  #wake: (() => void) | undefined;

  constructor(types: readonly string[] | undefined, maxQueued: number) {
    this.#prefixes = types && types.length > 0 ? types : undefined;
    this.#maxQueued = maxQueued;
  }

  /** Whether the event's type starts with one of the wanted prefixes (all, without any). */
  wants(event: GatewayEvent): boolean {
    const prefixes = this.#prefixes;
    return !prefixes || prefixes.some((p) => event.type.startsWith(p));
  }

  /** What the bus calls for every entry emitted. */
  readonly listener: Listener = (entry) => {
    if (!this.wants(entry.event)) return;
    if (this.#queue.length >= this.#maxQueued) {
      this.#queue.length = 0;
      this.#lagging = true;
    } else {
      this.#queue.push(entry);
    }
    this.wake();
  };

  /** Resumes a loop waiting in `nextEntries` (an entry arrived, or its signal aborted). */
  readonly wake = (): void => {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  };

  /** Resolves at the next `wake`. */
  nextEntries(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.#wake = resolve;
    });
  }

  /** Whether entries were dropped since the last call (the subscriber fell behind). */
  takeLagging(): boolean {
    const lagging = this.#lagging;
    this.#lagging = false;
    return lagging;
  }

  /** Everything queued, in one step (a burst costs one resume, not one per event); undefined when nothing is. */
  takeQueued(): LiveEntry[] | undefined {
    if (this.#queue.length === 0) return undefined;
    const taken = this.#queue;
    this.#queue = [];
    return taken;
  }

  /** A burst's entries shaped by `as`, skipping the durable ones already delivered (by the replay). */
  shape<T>(taken: readonly LiveEntry[], as: ShapeEvent<T>): T[] {
    const items: T[] = [];
    for (const entry of taken) {
      if (entry.durable) {
        if (entry.seq <= this.delivered) continue;
        this.delivered = entry.seq;
      }
      items.push(as(String(entry.seq), entry.event, entry.wireJson));
    }
    return items;
  }
}
