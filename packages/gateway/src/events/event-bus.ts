import {
  close,
  closeSync,
  fstatSync,
  fsync,
  ftruncateSync,
  open,
  openSync,
  renameSync,
  writeSync,
  writeFile as writeToFd,
} from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { promisify } from 'node:util';
import {
  EPHEMERAL_EVENT_TYPES,
  type GatewayEvent,
  type GatewayEventInput,
} from '@loopgate/protocol';
import { fsyncDirectory, tempPathFor } from '../store/index.js';
import {
  type Listener,
  LiveEntry,
  type SequencedEvent,
  type ShapeEvent,
  Subscriber,
} from './subscriber.js';

export type { SequencedEvent };

export type EventBusOptions = {
  /** Durable events kept in memory (and on disk) for `lastEventId` resume. */
  replayBufferSize: number;
  /** Append-only log so a client resuming across a gateway restart misses nothing. */
  logPath?: string;
  /** Events a single subscriber may have queued before it is marked as lagging. */
  maxQueuedPerSubscriber?: number;
  /** Where failed writes and compactions of the log are reported (the gateway's logger). */
  log?: EventBusLog;
};

/** The part of the gateway's logger the bus reports to. */
export type EventBusLog = {
  warn(fields: object, message: string): void;
  info(fields: object, message: string): void;
};

/**
 * `liveOnly`: the event goes to whoever is subscribed now and is neither
 * logged nor replayed, like a health tick. For events a peer without any
 * credential can cause at will (a pairing request): were they durable, a
 * stranger could push every operator's history out of the replay ring.
 */
export type EmitOptions = { liveOnly?: boolean };

export type SubscribeOptions = {
  lastEventId?: string | null | undefined;
  types?: readonly string[] | undefined;
  signal: AbortSignal;
};

/**
 * The log is rewritten to just the ring once it holds this many rings of
 * lines. Each rewrite copies a ring's worth of lines, so its cost per event
 * is 1 / (multiple - 1) of a line: at 2 it was an eighth of a busy stream's
 * CPU; at 8 the file stays a few MB (2 000 events are about 0.5 MB) and
 * open() parses only its tail.
 */
const COMPACT_AT_RING_MULTIPLE = 8;

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
  #ring: ReplayRing;
  #listeners = new Set<Listener>();
  /** Append-only log file; undefined when there is none or it failed (a full disk). */
  #logFd: number | undefined;
  /** Bytes of whole lines in the log: a failed append is cut back to this. */
  #logBytes = 0;
  #logLines = 0;
  /** Lines emitted in this burst, written together by `#flushPending`. */
  #pendingLines: string[] = [];
  #compacting = false;
  #closed = false;
  /** Set from the first failed append until one succeeds, so a full disk is reported once. */
  #appendFailing = false;
  readonly #log: EventBusLog | undefined;
  readonly #opts: Required<Omit<EventBusOptions, 'logPath' | 'log'>> & { logPath?: string };

  constructor(options: EventBusOptions) {
    const { log, ...rest } = options;
    this.#log = log;
    this.#opts = { maxQueuedPerSubscriber: 10_000, ...rest };
    this.#ring = new ReplayRing(options.replayBufferSize);
  }

  /** Loads the persisted tail (skipping a torn last line) and opens the log for appends. */
  async open(): Promise<void> {
    const path = this.#opts.logPath;
    // A gateway restarted in the same process (or retrying a failed start) opens its bus again.
    this.#closed = false;
    if (!path) return;
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    const text = await readFile(path, 'utf8').catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return '';
      throw error;
    });
    const lines = text.split('\n');
    // Only the newest events are kept, so older lines are not parsed; one spare for a torn last line.
    for (
      let i = Math.max(0, lines.length - this.#opts.replayBufferSize - 1);
      i < lines.length;
      i++
    ) {
      const line = lines[i]!;
      if (!line) continue;
      try {
        const parsed = JSON.parse(line) as SequencedEvent;
        // `> #seq`: reopened in the same process, the ring already holds what the file does.
        if (typeof parsed.seq === 'number' && parsed.event && parsed.seq > this.#seq) {
          this.#ring.push(parsed.seq, `${line}\n`);
          this.#seq = parsed.seq;
        }
      } catch {
        // a torn last line after a crash: the event was never acknowledged to anyone
      }
    }
    await this.#compact();
  }

  async close(): Promise<void> {
    this.#flushPending();
    this.#closed = true;
    const fd = this.#logFd;
    this.#logFd = undefined;
    if (fd !== undefined) closeSync(fd);
  }

  /** Written to the log first, like every id that leaves the bus (see `#append`). */
  get lastEventId(): string | null {
    this.#flushPending();
    return this.#seq === 0 ? null : String(this.#seq);
  }

  get listenerCount(): number {
    return this.#listeners.size;
  }

  emit(input: GatewayEventInput, options?: EmitOptions): SequencedEvent {
    let entry: LiveEntry;
    if (options?.liveOnly || EPHEMERAL_EVENT_TYPES.has(input.type)) {
      // Marked live (it has no id of its own) and carries the last durable id, so a client
      // resuming from it skips nothing.
      const event = { ...input, ts: Date.now(), live: true } as GatewayEvent;
      entry = new LiveEntry(this.#seq, event, false);
    } else {
      const event = { ...input, ts: Date.now() } as GatewayEvent;
      const json = JSON.stringify(event);
      entry = new LiveEntry(++this.#seq, event, true, json);
      this.#append(entry.seq, json);
    }
    for (const listener of this.#listeners) listener(entry);
    return entry;
  }

  /** Durable events after `lastEventId` still in the ring; `gap` when some were already evicted. */
  replayAfter(lastEventId: string | null | undefined): { events: SequencedEvent[]; gap: boolean } {
    const after = parseEventId(lastEventId);
    if (after === undefined) return { events: [], gap: false };
    const oldest = this.#ring.oldestSeq;
    const gap = oldest !== undefined && after < oldest - 1;
    // a client from a previous state dir (id ahead of ours) gets everything we have
    const lines = this.#ring.linesAfter(after > this.#seq ? 0 : after);
    return { events: lines.map((line) => JSON.parse(line) as SequencedEvent), gap };
  }

  /** `subscribeAs` yielding `[id, event, wireJson]`. */
  subscribe(options: SubscribeOptions): AsyncGenerator<[string, GatewayEvent, string | undefined]> {
    return this.subscribeAs(options, (id, event, wireJson) => [id, event, wireJson]);
  }

  /**
   * Yields each event as `as(id, event, wireJson)`: first the replay after
   * `lastEventId`, then live ones, filtered by type prefix. `wireJson` is the
   * event's JSON text when the wire may send it as is (see `LiveEntry`),
   * undefined when the sender must serialize the event itself. `as` shapes
   * the item here, so a procedure can return this generator itself instead
   * of wrapping it in a second one. Ends when `signal` aborts; the listener
   * is removed on every exit path.
   */
  async *subscribeAs<T, B = never>(
    options: SubscribeOptions,
    as: ShapeEvent<T>,
    batch?: (items: T[]) => B,
  ): AsyncGenerator<T | B> {
    const { signal } = options;
    const subscriber = new Subscriber(options.types, this.#opts.maxQueuedPerSubscriber);
    // Register before replaying so nothing emitted in between is missed.
    this.#listeners.add(subscriber.listener);
    signal.addEventListener('abort', subscriber.wake, { once: true });
    try {
      for (const item of this.#replayFor(subscriber, options.lastEventId, as)) {
        if (signal.aborted) return;
        yield item;
      }
      // The live loop stays in this generator's own body: one resume per burst, no
      // delegation (a `yield*` to another async generator costs promises per event).
      while (!signal.aborted) {
        if (subscriber.takeLagging()) {
          const from = String(subscriber.delivered);
          yield as(from, this.#gapEvent(from), undefined);
          continue;
        }
        const taken = subscriber.takeQueued();
        if (taken === undefined) {
          await subscriber.nextEntries();
          continue;
        }
        const items = subscriber.shape(taken, as);
        if (items.length === 0) continue;
        this.#flushPending();
        if (batch && items.length > 1) yield batch(items);
        else yield* items;
      }
    } finally {
      this.#listeners.delete(subscriber.listener);
      signal.removeEventListener('abort', subscriber.wake);
    }
  }

  /**
   * What a subscription yields before going live: a gap marker when events
   * after `lastEventId` were already evicted, then the durable ones still in
   * the ring that it wants. Marks them delivered, so the live loop skips
   * them when they are queued too.
   */
  #replayFor<T>(
    subscriber: Subscriber,
    lastEventId: string | null | undefined,
    as: ShapeEvent<T>,
  ): T[] {
    const { events: replay, gap } = this.replayAfter(lastEventId);
    // Written to the log before any id leaves the bus (see `#append`).
    this.#flushPending();
    subscriber.delivered = parseEventId(lastEventId) ?? 0;
    const items: T[] = [];
    if (gap)
      items.push(as(String(subscriber.delivered), this.#gapEvent(lastEventId ?? null), undefined));
    for (const entry of replay) {
      if (!subscriber.wants(entry.event)) continue;
      subscriber.delivered = entry.seq;
      items.push(as(String(entry.seq), entry.event, undefined));
    }
    return items;
  }

  #gapEvent(missedFrom: string | null): GatewayEvent {
    return { type: 'events.gap', missedFrom, ts: Date.now(), live: true };
  }

  /**
   * Queued now, written in one synchronous write per burst: by whichever
   * comes first of a subscriber about to yield an id (and `lastEventId`),
   * or a `setImmediate` after the turn's I/O. So an event is on the log
   * before any socket sees its id: once a client holds an id, a crash
   * (SIGKILL) cannot take that event off the log, and a restarted gateway
   * never hands the same id to a different event. An event nobody watches
   * is written after the turn's replies went out, so a `nodes.invoke` answer
   * does not wait behind the write of its `node.invoke.finished`
   * (bench/README.md measures it). One write per
   * burst instead of one per event is what keeps `emit` cheap under load.
   */
  #append(seq: number, eventJson: string): void {
    // The bytes `JSON.stringify({ seq, event })` makes, from the event's text computed once.
    const line = `{"seq":${seq},"event":${eventJson}}\n`;
    this.#ring.push(seq, line);
    if (this.#logFd === undefined) return;
    if (this.#pendingLines.push(line) === 1) setImmediate(this.#flushPending);
  }

  readonly #flushPending = (): void => {
    const lines = this.#pendingLines;
    if (lines.length === 0) return;
    this.#pendingLines = [];
    const fd = this.#logFd;
    if (fd === undefined) return;
    const bytes = Buffer.from(lines.join(''));
    try {
      // A short write (the disk filled up mid-line) is a failure too.
      const written = writeSync(fd, bytes);
      if (written !== bytes.length)
        throw new Error(`short write: ${written} of ${bytes.length} bytes`);
      this.#logBytes += bytes.length;
    } catch (error) {
      // A full disk must not take the gateway down; replay just gets shorter.
      // Cut a partial line back off, so the next append starts on a clean line.
      try {
        ftruncateSync(fd, this.#logBytes);
      } catch {
        // nothing more to do: open() skips a line it cannot parse
      }
      if (!this.#appendFailing) {
        this.#appendFailing = true;
        this.#log?.warn(
          { err: error, path: this.#opts.logPath, events: lines.length },
          'event log write failed; events stay in memory only until a write succeeds',
        );
      }
      return;
    }
    if (this.#appendFailing) {
      this.#appendFailing = false;
      this.#log?.info({ path: this.#opts.logPath }, 'event log writes succeed again');
    }
    this.#logLines += lines.length;
    if (this.#logLines > this.#opts.replayBufferSize * COMPACT_AT_RING_MULTIPLE)
      void this.#compact();
  };

  /**
   * Rewrites the log to just the ring. The snapshot is written to a temp
   * file while appends keep going to the current log; the switch (catching
   * up what was emitted meanwhile, rename, new descriptor) is synchronous,
   * so no event is ever only in the file being replaced. Everything else —
   * opening, writing and syncing the snapshot, and closing the replaced log,
   * which frees its blocks since the rename unlinked it — runs on libuv's
   * threads, off the event loop.
   */
  async #compact(): Promise<void> {
    const path = this.#opts.logPath;
    if (!path || this.#compacting) return;
    this.#compacting = true;
    const dir = dirname(path);
    const tmp = tempPathFor(path);
    let fd: number | undefined;
    try {
      const written = this.#ring.linesAfter(0);
      const lastWritten = this.#ring.newestSeq ?? 0;
      fd = await openFd(tmp, 'ax', 0o600);
      const snapshot = Buffer.from(written.join(''));
      await writeAllToFd(fd, snapshot);
      await fsyncFd(fd);
      // Queued lines go to the old file first (kept if the switch fails); `meanwhile` below
      // copies them from the ring into the new one.
      this.#flushPending();
      const meanwhile = Buffer.from(this.#ring.linesAfter(lastWritten).join(''));
      if (meanwhile.length > 0) writeSync(fd, meanwhile);
      renameSync(tmp, path);
      const replaced = this.#logFd;
      this.#logFd = undefined;
      if (replaced !== undefined) close(replaced, this.#reportCloseFailure);
      const current = fd;
      fd = undefined;
      if (this.#closed) {
        // Closed while the snapshot was being written: the file is complete, keep nothing open.
        closeSync(current);
        return;
      }
      this.#logFd = current;
      this.#logBytes = snapshot.length + meanwhile.length;
      this.#logLines = written.length;
      // The rename is done and the data synced: an unsynced directory entry only risks the
      // old, longer file coming back after a power cut, which open() reads just as well.
      await fsyncDirectory(dir).catch(() => {});
    } catch (error) {
      // A full disk: keep appending to the log we have (or none); the next compaction retries.
      this.#log?.warn(
        { err: error, path },
        'event log compaction failed; appending to the current log, will retry',
      );
      if (fd !== undefined) closeSync(fd);
      // The temp file may never have been created; a leftover is removed at the next start.
      await rm(tmp, { force: true }).catch(() => {});
      if (this.#logFd === undefined && !this.#closed) this.#openForAppend(path);
    } finally {
      this.#compacting = false;
    }
  }

  readonly #reportCloseFailure = (error: NodeJS.ErrnoException | null): void => {
    if (error) this.#log?.warn({ err: error }, 'closing the replaced event log failed');
  };

  #openForAppend(path: string): void {
    try {
      const fd = openSync(path, 'a', 0o600);
      this.#logFd = fd;
      this.#logBytes = fstatSync(fd).size;
    } catch (error) {
      this.#logFd = undefined;
      this.#log?.warn(
        { err: error, path },
        'event log cannot be opened; events are kept in memory only',
      );
    }
  }
}

/**
 * The replay ring: the last `capacity` durable events as their log lines
 * (with their seqs alongside), in a circular buffer. Lines rather than event
 * objects: every event lives here for `capacity` more events, so each one a
 * subscriber has long consumed would otherwise survive the young generation
 * as three objects and a string and be copied into the old one; a line is one
 * string, compaction writes it as is, and a resume (rare) parses what it
 * replays.
 */
class ReplayRing {
  readonly #lines: string[];
  readonly #seqs: Float64Array;
  #start = 0;
  #size = 0;

  constructor(capacity: number) {
    this.#lines = new Array<string>(capacity);
    this.#seqs = new Float64Array(capacity);
  }

  push(seq: number, line: string): void {
    const capacity = this.#lines.length;
    const at = (this.#start + this.#size) % capacity;
    this.#lines[at] = line;
    this.#seqs[at] = seq;
    if (this.#size < capacity) this.#size++;
    else this.#start = (this.#start + 1) % capacity;
  }

  get oldestSeq(): number | undefined {
    return this.#size === 0 ? undefined : this.#seqs[this.#start];
  }

  get newestSeq(): number | undefined {
    return this.#size === 0
      ? undefined
      : this.#seqs[(this.#start + this.#size - 1) % this.#lines.length];
  }

  /** Lines of the events with a seq above `seq`, oldest first. */
  linesAfter(seq: number): string[] {
    const capacity = this.#lines.length;
    const out: string[] = [];
    for (let i = 0; i < this.#size; i++) {
      const at = (this.#start + i) % capacity;
      if (this.#seqs[at]! > seq) out.push(this.#lines[at]!);
    }
    return out;
  }
}

const openFd = promisify(open);
const fsyncFd = promisify(fsync);
/** `writeFile` on a descriptor writes all of `data` from its current position and leaves it open. */
const writeAllToFd = promisify(writeToFd) as (fd: number, data: Buffer) => Promise<void>;

function parseEventId(id: string | null | undefined): number | undefined {
  if (id === null || id === undefined || id === '') return undefined;
  const n = Number.parseInt(id, 10);
  return Number.isFinite(n) && n >= 0 ? n : undefined;
}
