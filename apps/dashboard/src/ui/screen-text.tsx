// JSX pragmas: `tsx` compiles with the repo root's tsconfig, which sets no jsx option.
/** @jsxRuntime automatic */
/** @jsxImportSource react */
import { forTerminal } from '@loopgate/protocol';
import { Text as InkText, type TextProps } from 'ink';
import { Children, type ReactNode } from 'react';

/**
 * Ink's `Text` with the text it is given shown safe for the terminal: control
 * characters and bidi overrides appear as `\x1b`, `\u202e`… Much of what the
 * panes show is a peer's own words (a node's name, error message or result,
 * an agent's reply, a channel message, an event's fields); Ink would pass an
 * escape sequence in it straight to the operator's terminal (OSC 52 writes the
 * clipboard, `ESC [2J` clears the screen, a carriage return redraws a row).
 * Every dashboard view writes text through this one (biome refuses Ink's own
 * `Text` elsewhere), so a new pane cannot forget it.
 */
export function Text({ children, ...props }: TextProps): ReactNode {
  return (
    <InkText {...props}>
      {Children.map(children, (child) => (typeof child === 'string' ? forTerminal(child) : child))}
    </InkText>
  );
}
