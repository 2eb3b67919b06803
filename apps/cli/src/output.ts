import type { z } from 'zod';

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

/** Controls other than a line break or a tab, and the bidirectional overrides and isolates. */
const STEERING = /[^\P{Cc}\n\t]|[\u202a-\u202e\u2066-\u2069]/gu;

/**
 * Text for a human's terminal, its steering characters shown as `\x1b`,
 * `\u202e`…: much of what the CLI prints comes from peers (a node's error
 * message, an agent's reply, a log line), and an escape sequence in it would
 * otherwise reach the terminal (clear the screen, redraw a line, write the
 * clipboard with OSC 52).
 */
export function forTerminal(text: string): string {
  return text.replace(STEERING, (c) => {
    const code = c.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16)}`;
  });
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
