import { chatPane } from './chat/index.js';
import { connectionPane } from './connection/index.js';
import { eventsPane } from './events/index.js';
import { nodesPane } from './nodes/index.js';
import { overviewPane } from './overview/index.js';
import type { PaneDefinition } from './pane.js';

export type { PaneDefinition } from './pane.js';

/**
 * The panes, in tab order: number keys, tabs, footer, help, `:` commands and
 * the docs' key table follow this list. A new pane is a folder beside these
 * (its view, keys and state) and one line here.
 */
export const PANE_DEFINITIONS = [
  overviewPane,
  nodesPane,
  chatPane,
  eventsPane,
  connectionPane,
] as const satisfies readonly PaneDefinition[];

export type PaneId = (typeof PANE_DEFINITIONS)[number]['id'];

export const PANES: readonly PaneId[] = PANE_DEFINITIONS.map((pane) => pane.id);

export function paneDefinition(id: PaneId): PaneDefinition {
  return PANE_DEFINITIONS.find((pane) => pane.id === id) ?? PANE_DEFINITIONS[0];
}
