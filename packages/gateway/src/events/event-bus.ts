import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { EPHEMERAL_EVENT_TYPES, type GatewayEvent, type GatewayEventInput } from '@loopgate/protocol';
import { writeFileAtomic } from '../store/index.js';

export type SequencedEvent = { seq: number; event: GatewayEvent };
type Listener = (entry: SequencedEvent) => void;

export type EventBusOptions = {
  /** Durable events kept in memory (and on disk) for `lastEventId` resume. */
  replayBufferSize: number;
  /** Append-only log so a client resuming across a gateway restart misses nothing. */
  logPath?: string;
  /** Events a single subscriber may have queued before it is marked as lagging. */
  maxQueuedPerSubscriber?: number;
};

export type SubscribeOptions = {
  lastEventId?: string | null | undefined;
  types?: readonly string[] | undefined;
  signal: AbortSignal;
};

/**
 * The gateway's event stream: durable events get a monotonically increasing
 * sequence number (persisted, so it survives restarts) and sit in a bounded
 * replay ring; ephemeral ones (health ticks) carry the last durable id so a
 * resume never skips anything. Subscribers are pull-based async iterators with
 * a bounded queue each: a subscriber that falls behind gets an `events.gap`
 * marker instead of letting the queue grow without bound.
 */
export class EventBus {
  #seq = 0;
  #ring: SequencedEvent[] = [];
  #listeners = new Set<Listener>();
  #log: WriteStream | undefined;
  #logLines = 0;
  readonly #opts: Required<Omit<EventBusOptions, 'logPath'>> & { logPath?: string };

  constructor(options: EventBusOptions) {
    this.#opts = { maxQueuedPerSubscriber: 10_000, ...options };
  }

  /** Loads the persisted tail (skipping a torn last line) and opens the log for appends. */
  async open(): Promise<void> {
    const path = this.#opts.logPath;
    if (!path) return;
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    const text = await readFile(path, 'utf8').catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return '';
      throw error;
    });
    const entries: SequencedEvent[] = [];
    for (const line of text.split('\n')) {
      if (!line) continue;
      try {
        const parsed = JSON.parse(line) as SequencedEvent;
        if (typeof parsed.seq === 'number' && parsed.event) entries.push(parsed);
      } catch {
        // a torn last line after a crash: the event was never acknowledged to anyone
      }
    }
    this.#ring = entries.slice(-this.#opts.replayBufferSize);
    this.#seq = entries.at(-1)?.seq ?? 0;
    await this.#compact();
  }

  async close(): Promise<void> {
    const log = this.#log;
    this.#log = undefined;
    if (log) await new Promise<void>((resolve) => log.end(resolve));
  }

  get lastEventId(): string | null {
    return this.#seq === 0 ? null : String(this.#seq);
  }

  get listenerCount(): number {
    return this.#listeners.size;
  }

  emit(input: GatewayEventInput): SequencedEvent {
    const event = { ...input, ts: Date.now() } as GatewayEvent;
    let entry: SequencedEvent;
    if (EPHEMERAL_EVENT_TYPES.has(event.type)) {
      entry = { seq: this.#seq, event };
    } else {
      entry = { seq: ++this.#seq, event };
      this.#ring.push(entry);
      if (this.#ring.length > this.#opts.replayBufferSize) this.#ring.shift();
      this.#append(entry);
    }
    for (const listener of this.#listeners) listener(entry);
    return entry;
  }

  /** Durable events after `lastEventId` still in the ring; `gap` when some were already evicted. */
  replayAfter(lastEventId: string | null | undefined): { events: SequencedEvent[]; gap: boolean } {
    const after = parseEventId(lastEventId);
    if (after === undefined) return { events: [], gap: false };
    const oldest = this.#ring[0]?.seq;
    const gap = oldest !== undefined && after < oldest - 1;
    // a client from a previous state dir (id ahead of ours) gets everything we have
    const events = after > this.#seq ? [...this.#ring] : this.#ring.filter((e) => e.seq > after);
    return { events, gap };
  }

  /**
   * Yields events as `[id, event]` pairs: first the replay after
   * `lastEventId`, then live ones, filtered by type prefix. Ends when `signal`
   * aborts; the listener is removed on every exit path.
   */
  async *subscribe(options: SubscribeOptions): AsyncGenerator<[string, GatewayEvent]> {
    const { signal } = options;
    const prefixes = options.types && options.types.length > 0 ? options.types : undefined;
    const wanted = (e: GatewayEvent) => !prefixes || prefixes.some((p) => e.type.startsWith(p));
    const queue: SequencedEvent[] = [];
    let lagging = false;
    let wake: (() => void) | undefined;
    const max = this.#opts.maxQueuedPerSubscriber;
    const listener: Listener = (entry) => {
      if (!wanted(entry.event)) return;
      if (queue.length >= max) {
        queue.length = 0;
        lagging = true;
      } else {
        queue.push(entry);
      }
      wake?.();
    };
    // Register before replaying so nothing emitted in between is missed.
    this.#listeners.add(listener);
    const onAbort = () => wake?.();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      const { events: replay, gap } = this.replayAfter(options.lastEventId);
      let delivered = parseEventId(options.lastEventId) ?? 0;
      if (gap) yield [String(delivered), this.#gapEvent(options.lastEventId ?? null)];
      for (const entry of replay) {
        if (signal.aborted) return;
        if (!wanted(entry.event)) continue;
        delivered = entry.seq;
        yield [String(entry.seq), entry.event];
      }
      while (!signal.aborted) {
        if (lagging) {
          lagging = false;
          yield [String(delivered), this.#gapEvent(String(delivered))];
          continue;
        }
        const entry = queue.shift();
        if (!entry) {
          await new Promise<void>((resolve) => {
            wake = resolve;
          });
          wake = undefined;
          continue;
        }
        // skip what the replay already delivered
        if (entry.seq <= delivered && !EPHEMERAL_EVENT_TYPES.has(entry.event.type)) continue;
        if (!EPHEMERAL_EVENT_TYPES.has(entry.event.type)) delivered = entry.seq;
        yield [String(entry.seq), entry.event];
      }
    } finally {
      this.#listeners.delete(listener);
      signal.removeEventListener('abort', onAbort);
    }
  }

  #gapEvent(missedFrom: string | null): GatewayEvent {
    return { type: 'events.gap', missedFrom, ts: Date.now() };
  }

  #append(entry: SequencedEvent): void {
    if (!this.#log) return;
    this.#log.write(`${JSON.stringify(entry)}\n`);
    if (++this.#logLines > this.#opts.replayBufferSize * 2) void this.#compact();
  }

  /** Rewrites the log to just the ring, atomically, then reopens it for appends. */
  async #compact(): Promise<void> {
    const path = this.#opts.logPath;
    if (!path) return;
    const old = this.#log;
    this.#log = undefined;
    if (old) await new Promise<void>((resolve) => old.end(resolve));
    const written = [...this.#ring];
    await writeFileAtomic(path, written.map((e) => `${JSON.stringify(e)}\n`).join(''));
    this.#logLines = written.length;
    this.#log = createWriteStream(path, { flags: 'a', mode: 0o600 });
    // events emitted while the snapshot was being written
    const lastWritten = written.at(-1)?.seq ?? 0;
    for (const entry of this.#ring) if (entry.seq > lastWritten) this.#append(entry);
    this.#log.on('error', () => {
      // a full disk must not take the gateway down; replay just gets shorter
      this.#log = undefined;
    });
  }
}

function parseEventId(id: string | null | undefined): number | undefined {
  if (id === null || id === undefined || id === '') return undefined;
  const n = Number.parseInt(id, 10);
  return Number.isFinite(n) && n >= 0 ? n : undefined;
}
