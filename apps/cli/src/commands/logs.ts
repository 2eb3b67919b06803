import type { GatewayClient } from '@loopgate/client';
import {
  EPHEMERAL_EVENT_TYPES,
  type EventsJsonLine,
  forTerminal,
  type GatewayError,
  type GatewayEvent,
  LOG_LEVELS,
  LogLevelName,
  type LogRecord,
} from '@loopgate/protocol';
import type { Command } from 'commander';
import { addClientOptions, type ClientFlags, withClient } from '../connect.js';
import { UsageError } from '../exit-codes.js';

/**
 * `loopgate logs` and `loopgate events`: the gateway's log and event stream
 * over the gateway connection (so through `--ssh`, `--url` or a context just
 * the same), pretty by default, one JSON object per line with `--json`.
 */
export function registerLogCommands(program: Command): void {
  addClientOptions(
    program
      .command('logs')
      .description("the gateway's structured log, over the gateway connection (operator.admin)")
      .option('-f, --follow', 'keep streaming new lines')
      .option('--level <level>', `lowest level shown: ${LogLevelName.options.join(', ')}`)
      .option(
        '--since <duration>',
        'lines from this long ago, e.g. 30s, 10m, 2h, 1d (reads the log file past the in-memory ring)',
      )
      .option('--tail <n>', 'without --since: the last N lines', '100'),
  ).action(async (flags: LogsFlags) => {
    const level = flags.level === undefined ? undefined : parseLevel(flags.level);
    const since =
      flags.since === undefined ? undefined : Date.now() - parseDuration(flags.since, '--since');
    const tail = parsePositiveInt(flags.tail, '--tail');
    await withClient(flags, (client) =>
      stream(flags.follow ?? false, (handlers) =>
        client.logs.subscribe(
          {
            ...(since !== undefined ? { since } : { tail }),
            ...(level ? { level } : {}),
            follow: flags.follow ?? false,
          },
          {
            onData: (record) => print(record as LogRecord, flags.json, renderLogRecord),
            ...handlers,
          },
        ),
      ),
    );
  });

  addClientOptions(
    program
      .command('events')
      .description("the gateway's event stream; --since <id> resumes from the durable log")
      .option('-f, --follow', 'keep streaming new events')
      .option('--filter <regex>', 'only events whose line matches (type and fields)')
      .option(
        '--since <id|duration>',
        'after this event id, or from this long ago (default without --follow: 10m)',
      ),
  ).action(async (flags: EventsFlags) => {
    const filter = flags.filter === undefined ? undefined : parseFilter(flags.filter);
    const since = parseEventsSince(flags.since, flags.follow ?? false);
    await withClient(flags, (client) => tailEvents(client, flags, filter, since));
  });
}

type LogsFlags = ClientFlags & { follow?: boolean; level?: string; since?: string; tail: string };
type EventsFlags = ClientFlags & { follow?: boolean; filter?: string; since?: string };
type Since = { afterId: string } | { fromTime: number } | undefined;

type StreamHandlers = {
  onError: (error: GatewayError) => void;
  onComplete: () => void;
};

/**
 * Runs one subscription to its end: the gateway completing it (no --follow),
 * an error, or Ctrl+C / SIGTERM (with --follow).
 */
function stream(
  follow: boolean,
  open: (handlers: StreamHandlers) => { unsubscribe(): void },
  stopWhen?: (stop: () => void) => void,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let subscription: { unsubscribe(): void } | undefined;
    const finish = (error?: GatewayError) => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      subscription?.unsubscribe();
      if (error) reject(error);
      else resolve();
    };
    const onSignal = () => finish();
    if (follow) {
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
    }
    subscription = open({ onError: (error) => finish(error), onComplete: () => finish() });
    stopWhen?.(() => finish());
  });
}

async function tailEvents(
  client: GatewayClient,
  flags: EventsFlags,
  filter: RegExp | undefined,
  since: Since,
): Promise<void> {
  const follow = flags.follow ?? false;
  // Without --follow the stream stops at the newest event there was when we asked.
  const head = follow ? undefined : (await client.status.query({})).events.lastEventId;
  if (
    !follow &&
    (head === null || (since && 'afterId' in since && Number(since.afterId) >= Number(head)))
  )
    return;
  const lastEventId = since === undefined ? undefined : 'afterId' in since ? since.afterId : '0';
  let stopNow: (() => void) | undefined;
  await stream(
    follow,
    (handlers) =>
      client.events.subscribe(lastEventId === undefined ? {} : { lastEventId }, {
        ...handlers,
        onData: ({ id: trackedId, data }) => {
          const event = data as GatewayEvent;
          // A live event travels under the last durable id (where a resume continues from);
          // it has none of its own, and two events must never be shown under one id.
          const id = event.live ? null : trackedId;
          const wanted =
            (!since || !('fromTime' in since) || event.ts >= since.fromTime) &&
            // Health ticks and gap markers are the stream's housekeeping: shown only when asked for by --filter.
            (!EPHEMERAL_EVENT_TYPES.has(event.type) || filter !== undefined);
          const line = renderEvent(id, event);
          const jsonLine: EventsJsonLine = { id, ...event };
          if (wanted && (!filter || filter.test(line))) print(jsonLine, flags.json, () => line);
          if (id !== null && head !== undefined && head !== null && Number(id) >= Number(head))
            stopNow?.();
        },
      }),
    (stop) => {
      stopNow = stop;
    },
  );
}

function print<T>(value: T, json: boolean | undefined, human: (value: T) => string): void {
  process.stdout.write(`${json ? JSON.stringify(value) : forTerminal(human(value))}\n`);
}

const LEVEL_NAMES = Object.fromEntries(
  Object.entries(LOG_LEVELS).map(([name, value]) => [value, name.toUpperCase()]),
) as Record<number, string>;

/** Fields pino adds to every line; the pretty view shows the call's own. */
const HOUSEKEEPING = new Set(['time', 'level', 'msg', 'pid', 'hostname', 'v']);

export function renderLogRecord(record: LogRecord): string {
  const level = (LEVEL_NAMES[record.level] ?? String(record.level)).padEnd(5);
  const fields = Object.entries(record)
    .filter(([key]) => !HOUSEKEEPING.has(key))
    .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`)
    .join(' ');
  return `${new Date(record.time).toISOString()} ${level} ${record.msg ?? ''}${fields ? `  ${fields}` : ''}`;
}

/** `<time> #<id> <type>  <fields>`; a live event (no id of its own) shows `live` in the id's place. */
function renderEvent(id: string | null, event: GatewayEvent): string {
  const { ts, type, live: _live, ...rest } = event as GatewayEvent & Record<string, unknown>;
  const fields = Object.entries(rest)
    .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`)
    .join(' ');
  const text = `${new Date(ts).toISOString()} ${id === null ? 'live' : `#${id}`} ${type}${fields ? `  ${fields}` : ''}`;
  return text.length > 400 ? `${text.slice(0, 399)}…` : text;
}

const UNITS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export function parseDuration(value: string, flag: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(value.trim());
  if (!match)
    throw new UsageError(
      `${flag}: expected a duration like 30s, 10m, 2h or 1d, got ${JSON.stringify(value)}`,
    );
  return Number(match[1]) * (UNITS[match[2] ?? 's'] ?? 1_000);
}

function parseEventsSince(value: string | undefined, follow: boolean): Since {
  if (value === undefined) return follow ? undefined : { fromTime: Date.now() - 10 * 60_000 };
  if (/^\d+$/.test(value)) return { afterId: value };
  return { fromTime: Date.now() - parseDuration(value, '--since') };
}

function parseLevel(value: string): LogLevelName {
  const parsed = LogLevelName.safeParse(value.toLowerCase());
  if (!parsed.success)
    throw new UsageError(
      `--level: expected one of ${LogLevelName.options.join(', ')}, got ${JSON.stringify(value)}`,
    );
  return parsed.data;
}

function parsePositiveInt(value: string, flag: string): number {
  if (!/^\d+$/.test(value) || Number(value) > 10_000)
    throw new UsageError(`${flag}: expected a number 0-10000, got ${JSON.stringify(value)}`);
  return Number(value);
}

function parseFilter(value: string): RegExp {
  if (value.length > 500) throw new UsageError('--filter: at most 500 characters');
  try {
    return new RegExp(value);
  } catch (error) {
    throw new UsageError(`--filter is not a valid regular expression: ${(error as Error).message}`);
  }
}
