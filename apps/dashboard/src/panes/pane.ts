import type { ReactNode } from 'react';
import type { KeyBinding } from '../keys/binding-kit.js';
import type { Effect } from '../keys/effects.js';
import type { DashboardState } from '../state/index.js';
import type { PaneProps } from '../ui/pane-frame.js';

/**
 * Everything the dashboard knows about a pane, registered in one place
 * (`panes/index.ts`): the tabs, number keys, footer, help, `:` commands and
 * the key table in docs/dashboard.md are all generated from these.
 */
export type PaneDefinition<Id extends string = string> = {
  id: Id;
  title: string;
  /** `:<id>` opens the pane; these open it too. */
  aliases: readonly string[];
  /** What `:<id>` does, for help and the docs. */
  summary: string;
  view: (props: PaneProps) => ReactNode;
  /** Its keys, with `scope` set to the pane id (or to an overlay it opens). */
  bindings: readonly KeyBinding[];
  /** What Esc closes or clears here first; nothing to back out of goes back to the first pane. */
  backOut?: (state: DashboardState) => Effect[] | undefined;
  /** Shown beside the tab, e.g. `(1 pending)`. */
  badge?: (state: DashboardState) => string | undefined;
};
