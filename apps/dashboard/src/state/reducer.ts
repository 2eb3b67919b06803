import type { TransportInfo } from '../gateway-port.js';
import { chatReducer } from '../panes/chat/state.js';
import { connectionReducer } from '../panes/connection/state.js';
import { eventsReducer } from '../panes/events/state.js';
import { nodesReducer } from '../panes/nodes/state.js';
import type {
  ConnectionSettings,
  DashboardAction,
  DashboardState,
  OperatorIntent,
} from './types.js';

export const DEFAULT_EVENT_CAPACITY = 1_000;
/** Round trips kept for the Overview sparkline. */
export const RTT_HISTORY = 60;

export type InitialStateOptions = {
  columns: number;
  rows: number;
  readOnly: boolean;
  target: string;
  context?: string | undefined;
  configPath: string;
  settings: ConnectionSettings;
  eventCapacity?: number;
  now?: number;
};

export const NO_TRANSPORT_INFO: TransportInfo = {
  via: 'direct',
  tls: { enabled: false, presented: undefined, pinned: [] },
  tunnel: undefined,
  ssh: undefined,
};

export function initialState(options: InitialStateOptions): DashboardState {
  return {
    terminal: { columns: options.columns, rows: options.rows },
    readOnly: options.readOnly,
    access: undefined,
    pane: 'overview',
    mode: { kind: 'normal' },
    notice: undefined,
    features: {
      status: 'unknown',
      nodes: 'unknown',
      pairing: 'unknown',
      sessions: 'unknown',
      agent: 'unknown',
      send: 'unknown',
    },
    gateway: { health: undefined, healthAt: undefined, status: undefined, statusError: undefined },
    connection: {
      target: options.target,
      context: options.context,
      link: { state: 'connecting' },
      linkSince: options.now ?? Date.now(),
      transport: NO_TRANSPORT_INFO,
      rttMs: undefined,
      rttHistory: [],
      draft: options.settings,
      saved: options.settings,
      configPath: options.configPath,
      field: 'mode',
    },
    nodes: {
      list: [],
      pending: [],
      selected: undefined,
      filter: '',
      invoke: undefined,
      error: undefined,
    },
    chat: {
      sessions: [],
      sessionId: undefined,
      history: [],
      run: undefined,
      scrollBack: 0,
      error: undefined,
    },
    events: {
      lines: [],
      capacity: options.eventCapacity ?? DEFAULT_EVENT_CAPACITY,
      nextN: 1,
      dropped: 0,
      follow: true,
      cursor: undefined,
      unseen: 0,
      filter: '',
      search: '',
      showTimestamps: true,
      lastEventId: undefined,
    },
  };
}

/** The whole dashboard's state transitions. Pure: the controller does the I/O and dispatches results. */
export function dashboardReducer(state: DashboardState, action: DashboardAction): DashboardState {
  switch (action.type) {
    case 'terminal.resized':
      return { ...state, terminal: { columns: action.columns, rows: action.rows } };
    case 'pane.selected':
      return { ...state, pane: action.pane, mode: { kind: 'normal' } };
    case 'mode.set':
      return { ...state, mode: action.mode };
    case 'input.changed':
      if (state.mode.kind === 'input') {
        return {
          ...state,
          mode: { kind: 'input', input: { ...state.mode.input, text: action.text } },
        };
      }
      if (state.mode.kind === 'help')
        return { ...state, mode: { kind: 'help', filter: action.text, scroll: 0 } };
      return state;
    case 'confirm.requested':
      return {
        ...state,
        mode: { kind: 'confirm', intent: action.intent, question: confirmQuestion(action.intent) },
      };
    case 'notice':
      return { ...state, notice: action.notice };
    case 'access.known':
      return { ...state, access: action.access };
    case 'feature.availability':
      if (state.features[action.feature] === action.availability) return state;
      return { ...state, features: { ...state.features, [action.feature]: action.availability } };
    case 'link.changed':
      return {
        ...state,
        connection: { ...state.connection, link: action.link, linkSince: action.at },
      };
    case 'transport.changed':
      return { ...state, connection: { ...state.connection, transport: action.transport } };
    case 'target.changed':
      return changeTarget(state, action.target, action.context);
    case 'rtt.measured': {
      const rttHistory = [...state.connection.rttHistory, action.ms].slice(-RTT_HISTORY);
      return { ...state, connection: { ...state.connection, rttMs: action.ms, rttHistory } };
    }
    case 'health.loaded':
      return {
        ...state,
        gateway: { ...state.gateway, health: action.health, healthAt: action.at },
      };
    case 'status.loaded':
      return {
        ...state,
        gateway: { ...state.gateway, status: action.status, statusError: undefined },
      };
    case 'status.failed':
      return { ...state, gateway: { ...state.gateway, statusError: action.error } };
    default:
      return reducePanes(state, action);
  }
}

/** Actions of one pane go to that pane's slice reducer; each returns the state untouched for others. */
const PANE_REDUCERS = [eventsReducer, nodesReducer, chatReducer, connectionReducer];

function reducePanes(state: DashboardState, action: DashboardAction): DashboardState {
  let next = state;
  for (const reduce of PANE_REDUCERS) next = reduce(next, action);
  return next;
}

/**
 * Another gateway: nothing the panes show may be the previous one's (its
 * health, nodes, sessions, a stale UNAUTHORIZED, an event id to resume
 * from). The same gateway again (a re-pin, new credentials): the data stays,
 * errors go, and the fresh connection's answers replace them.
 */
function changeTarget(
  state: DashboardState,
  target: string,
  context: string | undefined,
): DashboardState {
  const connection = { ...state.connection, target, context, rttMs: undefined, rttHistory: [] };
  if (target === state.connection.target && context === state.connection.context) {
    return {
      ...state,
      connection,
      gateway: { ...state.gateway, statusError: undefined },
      nodes: { ...state.nodes, error: undefined },
      chat: { ...state.chat, error: undefined },
    };
  }
  const fresh = initialState({
    columns: state.terminal.columns,
    rows: state.terminal.rows,
    readOnly: state.readOnly,
    target,
    configPath: state.connection.configPath,
    settings: state.connection.saved,
    eventCapacity: state.events.capacity,
  });
  return {
    ...state,
    connection,
    access: undefined,
    features: fresh.features,
    gateway: fresh.gateway,
    nodes: { ...fresh.nodes, filter: state.nodes.filter },
    chat: fresh.chat,
    events: {
      ...fresh.events,
      nextN: state.events.nextN,
      filter: state.events.filter,
      showTimestamps: state.events.showTimestamps,
    },
  };
}

/** The question a confirmation asks, naming exactly what will happen. */
export function confirmQuestion(intent: OperatorIntent): string {
  return `${describeIntent(intent)}?`;
}

export function describeIntent(intent: OperatorIntent): string {
  switch (intent.kind) {
    case 'approve-pairing':
      return `Approve pairing of "${intent.name}" (${intent.requestId}) and let it run its commands`;
    case 'reject-pairing':
      return `Reject pairing of "${intent.name}" (${intent.requestId})`;
    case 'remove-node':
      return `Remove node "${intent.name}" (${intent.nodeId}): revoke its key and disconnect it`;
    case 'invoke':
      return `Invoke ${intent.command} on ${intent.nodeId}`;
    case 'send':
      return `Send to ${intent.to} on ${intent.channel}`;
    case 'chat':
      return 'Send the message to the agent';
    case 'open-session':
      return `Open session ${intent.sessionId}`;
    case 'refresh':
      return intent.deep ? 'Refresh with a deep status probe' : 'Refresh';
    case 'connect':
      return `Connect to ${intent.url}`;
    case 'use-context':
      return `Switch to context ${intent.name}`;
    case 'apply-connection':
      return 'Reconnect with the edited settings';
    case 'save-connection':
      return 'Write gateway.mode and gateway.remote.* to the config file';
    case 'pin-fingerprint':
      return `Trust and pin the certificate ${intent.fingerprint}`;
    case 'restart-tunnel':
      return 'Restart the SSH tunnel';
    case 'quit':
      return 'Quit';
  }
}
