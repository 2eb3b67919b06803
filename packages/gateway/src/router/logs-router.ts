import { LOG_LEVELS, type LogRecord, LogsInput } from '@loopgate/protocol';
import { readLogFileTail } from '../log/index.js';
import { procedure, router } from './trpc.js';

/** Lines one subscriber may have waiting; past it the oldest give way to a marker saying how many. */
const MAX_QUEUED = 5_000;
const DEFAULT_TAIL = 100;

/**
 * `logs`: the gateway's structured log over the gateway connection (admin
 * only; see the access table), so an operator needs no shell on the host.
 * The backlog comes from the in-memory ring and, for a `since` older than
 * the ring, from the end of the log file; `follow` then streams new lines.
 */
export const logsRouter = router({
  logs: procedure.input(LogsInput).subscription(async function* ({ ctx, input, signal }) {
    const { ring, file } = ctx.services.logs;
    const minLevel = input?.level ? LOG_LEVELS[input.level] : 0;
    const shown = (r: LogRecord) => r.level >= minLevel;
    const stop = signal ?? ctx.conn.closed;

    // Listen before reading the backlog so nothing logged in between is lost.
    const queue: LogRecord[] = [];
    let dropped = 0;
    let wake: (() => void) | undefined;
    const unsubscribe = input?.follow
      ? ring.subscribe((record) => {
          if (!shown(record)) return;
          if (queue.length >= MAX_QUEUED) {
            queue.shift();
            dropped++;
          }
          queue.push(record);
          wake?.();
        })
      : undefined;
    const onAbort = () => wake?.();
    stop.addEventListener('abort', onAbort);
    try {
      const recent = ring.recent();
      const backlog: LogRecord[] = [];
      if (input?.since !== undefined) {
        const oldestInRing = recent[0]?.time ?? Date.now();
        if (file && input.since < oldestInRing)
          backlog.push(
            ...(await readLogFileTail(file, { since: input.since, before: oldestInRing })),
          );
        backlog.push(...recent.filter((r) => r.time >= (input.since ?? 0)));
      } else {
        const tail = input?.tail ?? DEFAULT_TAIL;
        if (tail > 0) backlog.push(...recent.slice(-tail));
      }
      for (const record of backlog) if (shown(record)) yield record;
      if (!unsubscribe) return;
      while (!stop.aborted) {
        if (dropped > 0) {
          yield {
            time: Date.now(),
            level: LOG_LEVELS.warn,
            msg: `${dropped} log line(s) dropped: this subscriber fell behind`,
          };
          dropped = 0;
        }
        const next = queue.shift();
        if (next) {
          yield next;
          continue;
        }
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
        wake = undefined;
      }
    } finally {
      unsubscribe?.();
      stop.removeEventListener('abort', onAbort);
    }
  }),
});
