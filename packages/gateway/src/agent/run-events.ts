import { randomBytes } from 'node:crypto';
import {
  type AgentRunEvent,
  type AgentRunEventInput,
  TERMINAL_RUN_STATES,
} from '@loopgate/protocol';

export type RunEventRecord = { seq: number; event: AgentRunEvent };

/**
 * The events of one stream (a run, or a session's out-of-run messages),
 * bounded: when full the oldest are dropped and remembered as dropped, so a
 * late resumer is told about the gap instead of silently missing events.
 */
export class RunEventLog {
  readonly #records: RunEventRecord[] = [];
  #droppedThrough = 0;

  constructor(
    readonly sessionId: string,
    readonly max: number,
  ) {}

  push(record: RunEventRecord): void {
    this.#records.push(record);
    if (this.#records.length > this.max) this.#droppedThrough = this.#records.shift()!.seq;
  }

  /** Records after `seq`; `gap` when some of those were already dropped. */
  after(seq: number): { records: RunEventRecord[]; gap: boolean } {
    const gap = this.#droppedThrough > seq;
    let i = this.#records.length;
    while (i > 0 && this.#records[i - 1]!.seq > seq) i--;
    return { records: this.#records.slice(i), gap };
  }

  get size(): number {
    return this.#records.length;
  }
}

export type RunEventFilter = { runId?: string | undefined; sessionId?: string | undefined };

type Listener = (record: RunEventRecord) => void;

/**
 * Every agent run's events with ids a client can resume from. Ids are
 * `<epoch>:<seq>`: seq rises across all runs (so a session feed merging
 * several runs stays ordered) and the epoch changes with each gateway
 * process, so an id from before a restart replays everything retained
 * rather than skipping new events whose seq happens to be lower.
 */
export class RunEventHub {
  readonly epoch = randomBytes(4).toString('hex');
  #seq = 0;
  readonly #logs = new Map<string, RunEventLog>();
  readonly #listeners = new Set<Listener>();

  constructor(readonly options: { maxEventsPerRun: number; maxQueuedPerSubscriber: number }) {}

  publish(input: AgentRunEventInput): RunEventRecord {
    const event = { ...input, ts: Date.now() } as AgentRunEvent;
    const record = { seq: ++this.#seq, event };
    const key = streamKey(event);
    let log = this.#logs.get(key);
    if (!log) {
      log = new RunEventLog(event.sessionId, event.runId ? this.options.maxEventsPerRun : 200);
      this.#logs.set(key, log);
    }
    log.push(record);
    for (const listener of this.#listeners) listener(record);
    return record;
  }

  /** Drops a finished run's log (its events can no longer be replayed). */
  forget(runId: string): void {
    this.#logs.delete(runId);
  }

  /** Drops the out-of-run messages of a session (reset). */
  forgetSession(sessionId: string): void {
    this.#logs.delete(`session:${sessionId}`);
  }

  idOf(seq: number): string {
    return `${this.epoch}:${seq}`;
  }

  /** The seq to resume after: 0 (everything retained) for an id from another gateway process or none. */
  resumePoint(lastEventId: string | null | undefined): number {
    if (!lastEventId) return 0;
    const [epoch, seq] = lastEventId.split(':');
    const n = Number(seq);
    return epoch === this.epoch && Number.isSafeInteger(n) && n >= 0 ? n : 0;
  }

  get listenerCount(): number {
    return this.#listeners.size;
  }

  /** Retained records after `seq` matching `filter`, in seq order. */
  replay(filter: RunEventFilter, seq: number): { records: RunEventRecord[]; gap: boolean } {
    let gap = false;
    const out: RunEventRecord[] = [];
    const logs =
      filter.runId !== undefined ? [this.#logs.get(filter.runId)] : [...this.#logs.values()];
    for (const log of logs) {
      if (!log) continue;
      if (filter.sessionId !== undefined && log.sessionId !== filter.sessionId) continue;
      const part = log.after(seq);
      gap ||= part.gap;
      out.push(...part.records);
    }
    if (logs.length > 1) out.sort((a, b) => a.seq - b.seq);
    return { records: out, gap };
  }

  /**
   * Yields `[id, event]`: first what was retained after `lastEventId`, then
   * live events, with no duplicates across the seam. A subscriber that falls
   * behind is caught up from the logs rather than buffered without bound. A
   * subscription to one run ends after that run's terminal state.
   */
  async *subscribe(
    options: RunEventFilter & { lastEventId?: string | null | undefined; signal: AbortSignal },
  ): AsyncGenerator<[string, AgentRunEvent]> {
    const { signal } = options;
    const filter: RunEventFilter = { runId: options.runId, sessionId: options.sessionId };
    const matches = (e: AgentRunEvent) =>
      (filter.runId === undefined || e.runId === filter.runId) &&
      (filter.sessionId === undefined || e.sessionId === filter.sessionId);
    const queue: RunEventRecord[] = [];
    let lagging = false;
    let wake: (() => void) | undefined;
    const listener: Listener = (record) => {
      if (!matches(record.event)) return;
      if (queue.length >= this.options.maxQueuedPerSubscriber) {
        queue.length = 0;
        lagging = true;
      } else {
        queue.push(record);
      }
      wake?.();
    };
    const onAbort = () => wake?.();
    // Listen before replaying so nothing published in between is missed.
    this.#listeners.add(listener);
    signal.addEventListener('abort', onAbort, { once: true });
    let delivered = this.resumePoint(options.lastEventId);
    const ends = (e: AgentRunEvent) =>
      filter.runId !== undefined && e.type === 'run.state' && TERMINAL_RUN_STATES.has(e.state);
    try {
      let catchUp = true;
      while (!signal.aborted) {
        if (catchUp || lagging) {
          catchUp = false;
          lagging = false;
          queue.length = 0;
          const { records, gap } = this.replay(filter, delivered);
          if (gap) {
            const sessionId = filter.sessionId ?? records[0]?.event.sessionId ?? '';
            yield [
              this.idOf(delivered),
              {
                type: 'gap',
                sessionId,
                ...(filter.runId ? { runId: filter.runId } : {}),
                missedFrom: delivered ? this.idOf(delivered) : null,
                ts: Date.now(),
              },
            ];
          }
          for (const record of records) {
            if (signal.aborted) return;
            delivered = record.seq;
            yield [this.idOf(record.seq), record.event];
            if (ends(record.event)) return;
          }
          continue;
        }
        const record = queue.shift();
        if (!record) {
          await new Promise<void>((resolve) => {
            wake = resolve;
          });
          wake = undefined;
          continue;
        }
        if (record.seq <= delivered) continue;
        delivered = record.seq;
        yield [this.idOf(record.seq), record.event];
        if (ends(record.event)) return;
      }
    } finally {
      this.#listeners.delete(listener);
      signal.removeEventListener('abort', onAbort);
    }
  }
}

function streamKey(event: AgentRunEvent): string {
  return event.runId ?? `session:${event.sessionId}`;
}
