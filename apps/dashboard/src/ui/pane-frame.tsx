// JSX pragmas: `tsx` compiles with the repo root's tsconfig, which sets no jsx option.
/** @jsxRuntime automatic */
/** @jsxImportSource react */
import { Box } from 'ink';
import type { ReactNode } from 'react';
import type { PaneId } from '../panes/index.js';
import type { DashboardState } from '../state/index.js';
import { Text } from './screen-text.js';

/** What every pane gets: the whole state (panes are pure views of it), its box, and the clock. */
export type PaneProps = {
  state: DashboardState;
  width: number;
  height: number;
  now: number;
  /**
   * A tab as it reads (`5 Connection`). Handed in rather than imported: a pane
   * importing the registry that imports it is a cycle, and under Ink's
   * top-level await a one-file bundle deadlocks on it (exit 13).
   */
  tabLabel(id: PaneId): string;
};

/** A pane's box: exactly `height` rows, anything taller is cut rather than pushing the status line away. */
export function PaneFrame({
  height,
  children,
}: {
  height: number;
  children: ReactNode;
}): ReactNode {
  return (
    <Box flexDirection="column" height={height} overflow="hidden">
      {children}
    </Box>
  );
}

/** One screen row that never wraps (a wrapped row would break the height budget). */
export function Row({ width, children }: { width: number; children: ReactNode }): ReactNode {
  return (
    <Box width={width} flexShrink={0}>
      <Text wrap="truncate-end">{children}</Text>
    </Box>
  );
}
