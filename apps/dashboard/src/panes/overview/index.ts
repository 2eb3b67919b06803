import type { PaneDefinition } from '../pane.js';
import { OVERVIEW_BINDINGS } from './keys.js';
import { OverviewPane } from './view.js';

export const overviewPane: PaneDefinition<'overview'> = {
  id: 'overview',
  title: 'Overview',
  aliases: ['o', 'ov'],
  summary: 'show the Overview pane',
  view: OverviewPane,
  bindings: OVERVIEW_BINDINGS,
};
