import type { GatewayEvent } from '@loopgate/protocol';
import type { NodeView } from '../../gateway-port.js';
import { compileLineFilter } from '../../state/line-filter.js';
import type { DashboardAction, DashboardState, NodesState } from '../../state/types.js';
import type { KnownNames } from '../events/event-lines.js';

/** The Nodes pane's slice: nodes, pending pairing requests, selection, filter and the invoke result. */
export function nodesReducer(state: DashboardState, action: DashboardAction): DashboardState {
  switch (action.type) {
    case 'nodes.loaded':
      return {
        ...state,
        nodes: keepSelection({ ...state.nodes, list: action.nodes, error: undefined }),
      };
    case 'pairing.loaded':
      return { ...state, nodes: keepSelection({ ...state.nodes, pending: action.pending }) };
    case 'nodes.failed':
      return { ...state, nodes: { ...state.nodes, error: action.error } };
    case 'nodes.selection-moved': {
      const keys = nodeRowKeys(state.nodes);
      if (keys.length === 0) return state;
      const at = state.nodes.selected === undefined ? -1 : keys.indexOf(state.nodes.selected);
      const next = Math.max(
        0,
        Math.min(keys.length - 1, (at < 0 ? 0 : at + action.step) as number),
      );
      return { ...state, nodes: { ...state.nodes, selected: keys[next] } };
    }
    case 'nodes.filtered':
      return { ...state, nodes: keepSelection({ ...state.nodes, filter: action.filter }) };
    case 'invoke.started': {
      const node = state.nodes.list.find((n) => n.nodeId === action.nodeId);
      return {
        ...state,
        pane: 'nodes',
        nodes: {
          ...state.nodes,
          invoke: {
            scroll: 0,
            nodeId: action.nodeId,
            nodeName: node?.name ?? action.nodeId,
            command: action.command,
            paramsText: action.paramsText,
            outcome: { state: 'running', startedAt: action.at },
          },
        },
      };
    }
    case 'invoke.succeeded':
    case 'invoke.failed': {
      const invoke = state.nodes.invoke;
      if (invoke?.outcome.state !== 'running') return state;
      const durationMs = action.at - invoke.outcome.startedAt;
      const outcome =
        action.type === 'invoke.succeeded'
          ? ({ state: 'ok', resultText: action.resultText, durationMs } as const)
          : ({ state: 'failed', error: action.error, durationMs } as const);
      return { ...state, nodes: { ...state.nodes, invoke: { ...invoke, outcome } } };
    }
    case 'invoke.dismissed':
      return { ...state, nodes: { ...state.nodes, invoke: undefined } };
    case 'invoke.scrolled': {
      const invoke = state.nodes.invoke;
      if (!invoke) return state;
      return {
        ...state,
        nodes: {
          ...state.nodes,
          invoke: { ...invoke, scroll: Math.max(0, invoke.scroll + action.delta) },
        },
      };
    }
    default:
      return state;
  }
}

/** The names the Nodes pane knows, for the Events pane's lines. */
export function knownNames(state: DashboardState): KnownNames {
  return {
    node: (nodeId) => state.nodes.list.find((n) => n.nodeId === nodeId)?.name,
    request: (requestId) => state.nodes.pending.find((p) => p.requestId === requestId)?.name,
  };
}

/** What a presence event changes in the Nodes pane's lists (the log line is the Events pane's). */
export function applyPresenceEvent(state: DashboardState, event: GatewayEvent): DashboardState {
  switch (event.type) {
    case 'node.online': {
      const known = state.nodes.list.find((n) => n.nodeId === event.nodeId);
      const node: NodeView = {
        nodeId: event.nodeId,
        name: event.name,
        state: 'online',
        platform: known?.platform,
        version: known?.version,
        commands: event.commands,
        lastSeenAt: event.ts,
        pairingCode: known?.pairingCode,
      };
      const list = known
        ? state.nodes.list.map((n) => (n.nodeId === event.nodeId ? node : n))
        : [...state.nodes.list, node];
      return { ...state, nodes: keepSelection({ ...state.nodes, list }) };
    }
    case 'node.offline': {
      const list = state.nodes.list.map((n) =>
        n.nodeId === event.nodeId ? { ...n, state: 'offline' as const, lastSeenAt: event.ts } : n,
      );
      return { ...state, nodes: { ...state.nodes, list } };
    }
    case 'node.removed':
      return {
        ...state,
        nodes: keepSelection({
          ...state.nodes,
          list: state.nodes.list.filter((n) => n.nodeId !== event.nodeId),
        }),
      };
    case 'node.pair.requested': {
      if (state.nodes.pending.some((p) => p.requestId === event.requestId)) return state;
      const pending = [
        ...state.nodes.pending,
        {
          requestId: event.requestId,
          pairingCode: event.pairingCode,
          // the event does not say; the next pairing.loaded does
          contested: false,
          name: event.name,
          platform: event.platform,
          commands: event.commands,
          remoteAddress: undefined,
          requestedAt: event.ts,
        },
      ];
      return { ...state, nodes: keepSelection({ ...state.nodes, pending }) };
    }
    case 'node.pair.resolved':
      return {
        ...state,
        nodes: keepSelection({
          ...state.nodes,
          pending: state.nodes.pending.filter((p) => p.requestId !== event.requestId),
        }),
      };
    default:
      return state;
  }
}

export type NodeRow =
  | { key: string; kind: 'pending'; request: NodesState['pending'][number] }
  | { key: string; kind: 'node'; node: NodeView };

/** Pending requests first (they wait for someone), then nodes online before offline; filtered by `/`. */
export function nodeRows(nodes: NodesState): NodeRow[] {
  const filter = compileLineFilter(nodes.filter);
  const rows: NodeRow[] = [];
  for (const request of nodes.pending) {
    if (
      filter.matches(
        `${request.name} ${request.requestId} ${request.pairingCode} pending ${request.commands.join(' ')}`,
      )
    ) {
      rows.push({ key: `pending:${request.requestId}`, kind: 'pending', request });
    }
  }
  const ordered = [...nodes.list].sort((a, b) =>
    a.state === b.state ? a.name.localeCompare(b.name) : a.state === 'online' ? -1 : 1,
  );
  for (const node of ordered) {
    if (filter.matches(`${node.name} ${node.nodeId} ${node.state} ${node.commands.join(' ')}`)) {
      rows.push({ key: `node:${node.nodeId}`, kind: 'node', node });
    }
  }
  return rows;
}

function nodeRowKeys(nodes: NodesState): string[] {
  return nodeRows(nodes).map((r) => r.key);
}

export function selectedNodeRow(nodes: NodesState): NodeRow | undefined {
  const rows = nodeRows(nodes);
  return rows.find((r) => r.key === nodes.selected) ?? rows[0];
}

/** Keeps the selection on the same item when lists change, or moves it to the first row. */
function keepSelection(nodes: NodesState): NodesState {
  const keys = nodeRowKeys(nodes);
  if (nodes.selected !== undefined && keys.includes(nodes.selected)) return nodes;
  return { ...nodes, selected: keys[0] };
}
