import type { PaneDefinition } from '../pane.js';
import { CONNECTION_BINDINGS } from './keys.js';
import { ConnectionPane } from './view.js';

export const connectionPane: PaneDefinition<'connection'> = {
  id: 'connection',
  title: 'Connection',
  aliases: ['conn', 'co'],
  summary: 'show target, tunnel and TLS',
  view: ConnectionPane,
  bindings: CONNECTION_BINDINGS,
};
