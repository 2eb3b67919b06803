import { forTerminal } from '@loopgate/protocol';
import type * as z from 'zod';

export type OutputOptions<T> = {
  json: boolean | undefined;
  /** The protocol schema the result must satisfy; `--json` prints exactly what it parses. */
  schema?: z.ZodType<T>;
  human: (value: T) => string;
};

/**
 * Shopify's `--json` contract: with `--json` the result alone goes to stdout
 * as JSON, validated by the same schema the gateway uses; without it, a
 * human rendering. Diagnostics always go to stderr.
 */
export function printResult<T>(value: T, options: OutputOptions<T>): void {
  if (options.json) {
    const checked = options.schema ? options.schema.parse(value) : value;
    process.stdout.write(`${JSON.stringify(checked, null, 2)}\n`);
    return;
  }
  process.stdout.write(`${forTerminal(options.human(value))}\n`);
}

export function note(message: string): void {
  process.stderr.write(`${forTerminal(message)}\n`);
}

export function formatDuration(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h ${m % 60}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}
