import type { PaneDefinition } from '../pane.js';
import { EVENTS_BINDINGS, eventsBackOut } from './keys.js';
import { EventsPane } from './view.js';

export const eventsPane: PaneDefinition<'events'> = {
  id: 'events',
  title: 'Events',
  aliases: ['e', 'ev', 'log'],
  summary: 'show the live event log',
  view: EventsPane,
  bindings: EVENTS_BINDINGS,
  backOut: eventsBackOut,
};
