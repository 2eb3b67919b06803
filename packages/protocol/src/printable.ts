import * as z from 'zod';

/**
 * Characters that steer a terminal or reorder text instead of showing
 * something: C0 and C1 controls, DEL, and the bidirectional overrides and
 * isolates. Names, platforms and versions a peer declares are printed as
 * they are by `loopgate nodes pending`, `events` and the dashboard; with a
 * carriage return and an escape sequence a stranger could redraw the row an
 * operator reads, the pairing code included.
 */
const CONTROL_CHARACTERS = /[\p{Cc}\u202a-\u202e\u2066-\u2069]/u;
const CONTROL_CHARACTERS_ALL = new RegExp(CONTROL_CHARACTERS.source, 'gu');
/** The same, less a line break or a tab: those lay out text a human reads rather than steer. */
const STEERING = /[^\P{Cc}\n\t]|[\u202a-\u202e\u2066-\u2069]/gu;

/** A short text from a peer, shown to operators: refused when it holds control characters. */
export function printableText(max: number, min = 1) {
  return z
    .string()
    .min(min)
    .max(max)
    .refine((text) => !CONTROL_CHARACTERS.test(text), {
      error: 'expected printable text (no control characters)',
    });
}

/** For what a peer sends that cannot be refused (another protocol's fields): the same text without them. */
export function withoutControlCharacters(text: string): string {
  return text.replace(CONTROL_CHARACTERS_ALL, '');
}

/**
 * Text for a human's terminal, its steering characters shown as `\x1b`,
 * `\u202e`…: much of what the CLI and the dashboard show comes from peers (a
 * node's error message or result, an agent's reply, a log line), and an
 * escape sequence in it would otherwise reach the terminal (clear the screen,
 * redraw a line, write the clipboard with OSC 52).
 */
export function forTerminal(text: string): string {
  return text.replace(STEERING, (c) => {
    const code = c.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16)}`;
  });
}
