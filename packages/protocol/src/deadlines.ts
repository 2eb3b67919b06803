/** One pending deadline; `cancel` is O(1) and safe to call more than once. */
export interface Deadline {
  cancel(): void;
}

/** The longest delay `setTimeout` takes as given (a longer one fires at once). */
const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;

class Entry implements Deadline {
  prev: Entry | undefined;
  next: Entry | undefined;
  constructor(
    readonly at: number,
    readonly onExpired: () => void,
    public lane: Lane | undefined,
  ) {}

  cancel(): void {
    this.lane?.unlink(this);
  }
}

/** Deadlines of one duration: added in time order, so they also expire in list order. */
class Lane {
  head: Entry | undefined;
  tail: Entry | undefined;

  constructor(
    readonly durationMs: number,
    private readonly onEmpty: (lane: Lane) => void,
  ) {}

  push(entry: Entry): void {
    entry.prev = this.tail;
    if (this.tail) this.tail.next = entry;
    else this.head = entry;
    this.tail = entry;
  }

  unlink(entry: Entry): void {
    if (entry.prev) entry.prev.next = entry.next;
    else this.head = entry.next;
    if (entry.next) entry.next.prev = entry.prev;
    else this.tail = entry.prev;
    entry.prev = entry.next = entry.lane = undefined;
    if (!this.head) this.onEmpty(this);
  }
}

/**
 * Deadlines for many short calls with one timer between them, not one per
 * call. Calls that finish in time (nearly all of them) only link and unlink
 * an entry; the timer is armed for the earliest deadline, and when it
 * fires, whatever has expired runs and the timer is armed for the next.
 * A timer per call cost the gateway and the node ~5 % of a sequential
 * `nodes.invoke` on the bench machine (bench/README.md, lever 24).
 *
 * Deadlines of the same duration expire in the order they were added, so
 * each duration keeps its own list and only its head is ever looked at.
 * The timer stays armed when the last deadline is cancelled (re-arming it
 * per call is the cost this saves); it then fires once for nothing.
 */
export class Deadlines {
  readonly #lanes = new Map<number, Lane>();
  readonly #now: () => number;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #timerAt = Number.POSITIVE_INFINITY;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /** Runs `onExpired` once `durationMs` has passed, unless cancelled first. */
  add(durationMs: number, onExpired: () => void): Deadline {
    let lane = this.#lanes.get(durationMs);
    if (!lane) {
      lane = new Lane(durationMs, (empty) => this.#lanes.delete(empty.durationMs));
      this.#lanes.set(durationMs, lane);
    }
    const entry = new Entry(this.#now() + durationMs, onExpired, lane);
    lane.push(entry);
    if (entry.at < this.#timerAt) this.#arm(entry.at);
    return entry;
  }

  /** Forgets every pending deadline without running it. */
  clear(): void {
    for (const lane of [...this.#lanes.values()]) {
      while (lane.head) lane.unlink(lane.head);
    }
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = Number.POSITIVE_INFINITY;
  }

  #arm(at: number): void {
    clearTimeout(this.#timer);
    this.#timerAt = at;
    const delay = Math.min(Math.max(0, at - this.#now()), MAX_TIMER_DELAY_MS);
    // A deadline alone never keeps the process up: what it guards holds a socket open anyway.
    this.#timer = setTimeout(this.#fire, delay).unref();
  }

  readonly #fire = (): void => {
    this.#timer = undefined;
    this.#timerAt = Number.POSITIVE_INFINITY;
    const now = this.#now();
    const expired: Entry[] = [];
    for (const lane of [...this.#lanes.values()]) {
      while (lane.head && lane.head.at <= now) {
        expired.push(lane.head);
        lane.unlink(lane.head);
      }
    }
    this.#armForEarliest();
    for (const entry of expired) runAlone(entry.onExpired);
  };

  #armForEarliest(): void {
    let earliest = Number.POSITIVE_INFINITY;
    for (const lane of this.#lanes.values()) {
      if (lane.head && lane.head.at < earliest) earliest = lane.head.at;
    }
    if (earliest < this.#timerAt) this.#arm(earliest);
  }
}

/**
 * Runs `fn` as if it had its own timer: a throw surfaces as an uncaught
 * exception, as a timer callback's would, without keeping the other
 * deadlines that expired with it from running.
 */
function runAlone(fn: () => void): void {
  try {
    fn();
  } catch (error) {
    queueMicrotask(() => {
      throw error;
    });
  }
}
