import type { PaneDefinition } from '../pane.js';
import { NODES_BINDINGS, nodesBackOut } from './keys.js';
import { NodesPane } from './view.js';

export const nodesPane: PaneDefinition<'nodes'> = {
  id: 'nodes',
  title: 'Nodes',
  aliases: ['no', 'n'],
  summary: 'show nodes and pending pairing requests',
  view: NodesPane,
  bindings: NODES_BINDINGS,
  backOut: nodesBackOut,
  // pairing requests wait for someone: the tab says so from every pane
  badge: (state) =>
    state.nodes.pending.length > 0 ? `(${state.nodes.pending.length} pending)` : undefined,
};
