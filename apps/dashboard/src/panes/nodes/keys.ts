import { all, type KeyBinding, needs, open } from '../../keys/binding-kit.js';
import { confirm, dispatch, type Effect, normalMode } from '../../keys/effects.js';
import { pageStep } from '../../layout.js';
import { type DashboardState, selectedNodeRow } from '../../state/index.js';

function selectedPending(state: DashboardState) {
  const row = selectedNodeRow(state.nodes);
  return row?.kind === 'pending' ? row.request : undefined;
}

function selectedNode(state: DashboardState) {
  const row = selectedNodeRow(state.nodes);
  return row?.kind === 'node' ? row.node : undefined;
}

/** Esc closes the invoke result, then clears the filter. */
export function nodesBackOut(state: DashboardState): Effect[] | undefined {
  if (state.nodes.invoke) return [dispatch({ type: 'invoke.dismissed' })];
  if (state.nodes.filter) return [dispatch({ type: 'nodes.filtered', filter: '' })];
  return undefined;
}

export const NODES_BINDINGS: readonly KeyBinding[] = [
  {
    id: 'nodes.up',
    keys: ['up', 'k'],
    description: 'select the previous node or request',
    scope: 'nodes',
    hint: 'select',
    run: () => [dispatch({ type: 'nodes.selection-moved', step: -1 })],
  },
  {
    id: 'nodes.down',
    keys: ['down', 'j'],
    description: 'select the next node or request',
    scope: 'nodes',
    run: () => [dispatch({ type: 'nodes.selection-moved', step: 1 })],
  },
  {
    id: 'nodes.approve',
    keys: ['a'],
    description: 'approve the selected pairing request (asks first)',
    scope: 'nodes',
    hint: 'approve',
    mutating: true,
    calls: 'nodes.pair.approve',
    enabled: all(needs('pairing', 'pairing'), (s) =>
      selectedPending(s) ? true : 'select a pending request',
    ),
    run: (state) => {
      const request = selectedPending(state)!;
      return [
        confirm({ kind: 'approve-pairing', requestId: request.requestId, name: request.name }),
      ];
    },
  },
  {
    id: 'nodes.reject',
    keys: ['x'],
    description: 'reject the selected pairing request (asks first)',
    scope: 'nodes',
    hint: 'reject',
    mutating: true,
    calls: 'nodes.pair.reject',
    enabled: all(needs('pairing', 'pairing'), (s) =>
      selectedPending(s) ? true : 'select a pending request',
    ),
    run: (state) => {
      const request = selectedPending(state)!;
      return [
        confirm({ kind: 'reject-pairing', requestId: request.requestId, name: request.name }),
      ];
    },
  },
  {
    id: 'nodes.invoke',
    keys: ['i', 'enter'],
    description: 'invoke a command on the selected node (pick it, then JSON params)',
    scope: 'nodes',
    hint: 'invoke',
    mutating: true,
    calls: 'nodes.invoke',
    enabled: all(needs('nodes', 'nodes'), (s) => {
      const node = selectedNode(s);
      if (!node) return 'select a node';
      if (node.state !== 'online') return `"${node.name}" is offline`;
      if (node.commands.length === 0) return `"${node.name}" offers no commands`;
      return true;
    }),
    run: (state) => [
      dispatch({
        type: 'mode.set',
        mode: { kind: 'pick-command', nodeId: selectedNode(state)!.nodeId, index: 0 },
      }),
    ],
  },
  {
    id: 'nodes.remove',
    keys: ['D'],
    description: 'remove the selected node: revoke its key (asks first)',
    hint: 'remove',
    scope: 'nodes',
    mutating: true,
    calls: 'nodes.pair.remove',
    enabled: all(needs('pairing', 'pairing'), (s) => (selectedNode(s) ? true : 'select a node')),
    run: (state) => {
      const node = selectedNode(state)!;
      return [confirm({ kind: 'remove-node', nodeId: node.nodeId, name: node.name })];
    },
  },
  {
    id: 'nodes.result-up',
    keys: ['pgup'],
    description: 'scroll the invoke result up',
    scope: 'nodes',
    enabled: (s) => (s.nodes.invoke ? true : 'no invoke result shown'),
    run: (state) => [dispatch({ type: 'invoke.scrolled', delta: -pageStep(state.terminal, 4) })],
  },
  {
    id: 'nodes.result-down',
    keys: ['pgdn'],
    description: 'scroll the invoke result down',
    scope: 'nodes',
    enabled: (s) => (s.nodes.invoke ? true : 'no invoke result shown'),
    run: (state) => [dispatch({ type: 'invoke.scrolled', delta: pageStep(state.terminal, 4) })],
  },
  {
    id: 'nodes.filter',
    keys: ['/'],
    description: 'filter nodes (regex, ! inverts)',
    scope: 'nodes',
    hint: 'filter',
    run: (state) => [open({ kind: 'nodes-filter', text: state.nodes.filter })],
  },

  // ── picking the command to invoke ─────────────────────────────────────────
  {
    id: 'pick.up',
    keys: ['up', 'k'],
    description: 'previous command',
    scope: 'pick-command',
    hint: 'select',
    run: (state) =>
      state.mode.kind === 'pick-command'
        ? [
            dispatch({
              type: 'mode.set',
              mode: { ...state.mode, index: Math.max(0, state.mode.index - 1) },
            }),
          ]
        : [],
  },
  {
    id: 'pick.down',
    keys: ['down', 'j'],
    description: 'next command',
    scope: 'pick-command',
    run: (state) => {
      if (state.mode.kind !== 'pick-command') return [];
      const { nodeId, index } = state.mode;
      const count = state.nodes.list.find((n) => n.nodeId === nodeId)?.commands.length ?? 0;
      return [
        dispatch({
          type: 'mode.set',
          mode: { ...state.mode, index: Math.min(Math.max(0, count - 1), index + 1) },
        }),
      ];
    },
  },
  {
    id: 'pick.choose',
    keys: ['enter'],
    description: 'choose this command and type its JSON params (its shape is shown)',
    scope: 'pick-command',
    hint: 'params',
    run: (state) => {
      if (state.mode.kind !== 'pick-command') return [];
      const { nodeId, index } = state.mode;
      const command = state.nodes.list.find((n) => n.nodeId === nodeId)?.commands[index];
      if (!command) return [normalMode];
      return [open({ kind: 'invoke-params', nodeId, command, text: '' })];
    },
  },
  {
    id: 'pick.cancel',
    keys: ['esc'],
    description: 'cancel',
    scope: 'pick-command',
    hint: 'cancel',
    run: () => [normalMode],
  },
];
