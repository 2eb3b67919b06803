import type { LogRecord } from '@loopgate/protocol';

/** Longer lines are kept as a stub: one runaway log call must not pin megabytes in the ring. */
const MAX_LINE_BYTES = 16 * 1024;

type Listener = (record: LogRecord) => void;

/**
 * The last `capacity` log lines, as pino wrote them (after redaction), and
 * the live ones as they come: what `logs` serves without touching the disk.
 * It is one of pino's streams, so it sees exactly what the file sees.
 */
export class LogRing {
  readonly #capacity: number;
  readonly #records: LogRecord[] = [];
  readonly #listeners = new Set<Listener>();

  constructor(capacity = 2_000) {
    this.#capacity = capacity;
  }

  /** pino's stream interface: one JSON line per call. */
  write(line: string): void {
    const record = parseLine(line);
    if (!record) return;
    this.#records.push(record);
    if (this.#records.length > this.#capacity) this.#records.shift();
    for (const listener of this.#listeners) listener(record);
  }

  /** The records kept, oldest first. */
  recent(): readonly LogRecord[] {
    return this.#records;
  }

  subscribe(listener: Listener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}

/** A pino JSON line as a record; a line too long becomes a stub with its time and level. */
export function parseLine(line: string): LogRecord | undefined {
  if (line.length > MAX_LINE_BYTES) {
    const time = Number(/"time":(\d+)/.exec(line.slice(0, 200))?.[1] ?? Date.now());
    const level = Number(/"level":(\d+)/.exec(line.slice(0, 200))?.[1] ?? 30);
    return { time, level, msg: `(log line of ${line.length} bytes, too long to serve)` };
  }
  try {
    const parsed = JSON.parse(line) as Partial<LogRecord> | null;
    if (!parsed || typeof parsed.time !== 'number' || typeof parsed.level !== 'number')
      return undefined;
    return parsed as LogRecord;
  } catch {
    // A torn line (the file's last line mid-write): nothing to serve.
    return undefined;
  }
}
