import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { dirname } from 'node:path';
import { format } from 'node:util';

export type LogFields = Record<string, unknown>;

/**
 * The dashboard's log. It goes to a file and never to the terminal, where it
 * would tear the frame Ink is drawing. One JSON object per line, like the
 * gateway's own log.
 */
export interface DashboardLog {
  readonly path: string | undefined;
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  close(): Promise<void>;
}

const LEVELS = { debug: 20, info: 30, warn: 40, error: 50 } as const;

/** Opens (appends to) the log file; without a path the log is dropped. */
export function openDashboardLog(path: string | undefined): DashboardLog {
  let stream: WriteStream | undefined;
  if (path) {
    try {
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
      stream = createWriteStream(path, { flags: 'a', mode: 0o600 });
      // an unwritable log must not take the dashboard down
      stream.on('error', () => {
        stream = undefined;
      });
    } catch {
      // no log folder (read-only home, full disk): the dashboard runs without a log rather than not at all
      stream = undefined;
    }
  }
  const write = (level: keyof typeof LEVELS, message: string, fields?: LogFields) => {
    if (!stream) return;
    stream.write(
      `${JSON.stringify({ level: LEVELS[level], time: Date.now(), name: 'dashboard', msg: message, ...fields })}\n`,
    );
  };
  return {
    path,
    debug: (m, f) => write('debug', m, f),
    info: (m, f) => write('info', m, f),
    warn: (m, f) => write('warn', m, f),
    error: (m, f) => write('error', m, f),
    close: () =>
      new Promise<void>((resolve) => {
        const s = stream;
        stream = undefined;
        if (s) s.end(resolve);
        else resolve();
      }),
  };
}

/**
 * Sends `console.*` to the log while the dashboard owns the screen: a stray
 * `console.log` from any library would otherwise scribble over the frame.
 * Returns the function that puts the console back.
 */
export function routeConsoleToLog(log: DashboardLog): () => void {
  const methods = ['log', 'info', 'debug', 'warn', 'error'] as const;
  const saved = methods.map((m) => [m, console[m]] as const);
  for (const method of methods) {
    const level = method === 'log' ? 'info' : method;
    console[method] = (...args: unknown[]) => log[level](format(...args), { source: 'console' });
  }
  return () => {
    for (const [method, fn] of saved) console[method] = fn;
  };
}
