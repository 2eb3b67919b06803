import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import pino, { type Logger } from 'pino';
import type { LogRing } from './log-ring.js';

export type { Logger };

/** Keys whose values never reach a log line, wherever they appear. */
const REDACT = [
  'token',
  'password',
  'nodeToken',
  'apiKey',
  'botToken',
  'secret',
  'authorization',
  '*.token',
  '*.password',
  '*.nodeToken',
  '*.apiKey',
  '*.botToken',
  '*.secret',
  '*.authorization',
  'connectionParams',
];

export type LoggerOptions = {
  level: string;
  /** Append JSON lines here (created with its directory). */
  file?: string | undefined;
  stderr?: boolean;
  /** Also keep the lines (redacted, as written) in memory for the `logs` subscription. */
  ring?: LogRing | undefined;
};

/**
 * Structured JSON logs (pino) to a file and/or stderr. Errors are logged by
 * message and code only: no stack traces (they carry file paths) and, through
 * redaction, no credentials.
 */
export function createLogger(options: LoggerOptions): Logger {
  if (options.level === 'silent' || (!options.file && !options.stderr && !options.ring))
    return pino({ level: 'silent' });
  const streams: pino.StreamEntry[] = [];
  if (options.ring) streams.push({ stream: options.ring });
  if (options.file) {
    mkdirSync(dirname(options.file), { recursive: true, mode: 0o700 });
    // 0600 like every other file under the state dir: a log line may carry a peer address or a session key.
    streams.push({
      stream: pino.destination({ dest: options.file, mkdir: true, sync: false, mode: 0o600 }),
    });
  }
  if (options.stderr) streams.push({ stream: pino.destination({ dest: 2, sync: false }) });
  return pino(
    {
      level: options.level,
      base: { pid: process.pid },
      redact: { paths: REDACT, censor: '[redacted]' },
      serializers: {
        err: (err: Error & { code?: unknown }) => ({
          type: err.name,
          message: err.message,
          code: err.code,
        }),
      },
    },
    pino.multistream(streams),
  );
}
