import type { AgentRunUpdate, ChatEntry, NodeView, TransportInfo } from '../gateway-port.js';
import { applyConnectionField } from './connection-settings.js';
import { describeEvent, type KnownNames } from './event-lines.js';
import { compileLineFilter } from './line-filter.js';
import {
  CONNECTION_FIELDS,
  type ConnectionSettings,
  type DashboardAction,
  type DashboardState,
  type EventLine,
  type EventsState,
  type LiveRun,
  type NodesState,
  type OperatorIntent,
  PANES,
  type ReceivedEvent,
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
    case 'pane.cycled': {
      const index = PANES.indexOf(state.pane);
      const pane = PANES[(index + action.step + PANES.length) % PANES.length]!;
      return { ...state, pane, mode: { kind: 'normal' } };
    }
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
    case 'events.received':
      return receiveEvents(state, action.batch);
    case 'events.scrolled':
      return { ...state, events: scrollEvents(state.events, action.delta) };
    case 'events.followed':
      return { ...state, events: { ...state.events, follow: true, cursor: undefined, unseen: 0 } };
    case 'events.top': {
      const first = visibleEventLines(state.events)[0];
      if (!first) return state;
      return { ...state, events: { ...state.events, follow: false, cursor: first.n } };
    }
    case 'events.filtered':
      return { ...state, events: refilter({ ...state.events, filter: action.filter }) };
    case 'events.searched':
      return searchEvents(state, action.search);
    case 'events.search-stepped':
      return stepSearch(state, action.step);
    case 'events.timestamps-toggled':
      return {
        ...state,
        events: { ...state.events, showTimestamps: !state.events.showTimestamps },
      };
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
    case 'chat.sessions-loaded':
      return { ...state, chat: { ...state.chat, sessions: action.sessions } };
    case 'chat.session-opened':
      if (state.chat.run && state.chat.run.sessionId !== action.sessionId) {
        // the live turn belongs to another session: it keeps running on the gateway
        return {
          ...state,
          chat: {
            ...state.chat,
            sessionId: action.sessionId,
            history: [],
            run: undefined,
            scrollBack: 0,
            error: undefined,
          },
        };
      }
      return {
        ...state,
        chat: {
          ...state.chat,
          sessionId: action.sessionId,
          history: [],
          scrollBack: 0,
          error: undefined,
        },
      };
    case 'chat.history-loaded':
      if (state.chat.sessionId !== action.sessionId) return state;
      return { ...state, chat: { ...state.chat, history: action.history } };
    case 'chat.failed': {
      const run = state.chat.run;
      if (!run) return { ...state, chat: { ...state.chat, error: action.error } };
      // the turn ended for us (never started, or its stream broke): keep what was typed and say why
      const failure: ChatEntry = {
        kind: 'error',
        text: `${action.error.code}: ${action.error.message}`,
      };
      const history = [...state.chat.history, ...run.entries, failure];
      return { ...state, chat: { ...state.chat, history, run: undefined, error: action.error } };
    }
    case 'chat.sent':
      return {
        ...state,
        chat: {
          ...state.chat,
          error: undefined,
          scrollBack: 0,
          run: {
            runId: '',
            sessionId: state.chat.sessionId,
            state: 'queued',
            entries: [{ kind: 'user', text: action.text }],
            error: undefined,
          },
        },
      };
    case 'chat.run-started': {
      const run = state.chat.run;
      if (!run) return state;
      return {
        ...state,
        chat: {
          ...state.chat,
          sessionId: state.chat.sessionId ?? action.sessionId,
          run: { ...run, runId: action.runId, sessionId: run.sessionId ?? action.sessionId },
        },
      };
    }
    case 'chat.run-updated': {
      const run = state.chat.run;
      if (!run || run.runId !== action.runId) return state;
      const next = updateRun(run, action.update);
      if (next.state === 'completed' || next.state === 'failed' || next.state === 'cancelled') {
        const tail: ChatEntry[] =
          next.state === 'completed'
            ? []
            : [{ kind: 'error', text: `run ${next.state}${next.error ? `: ${next.error}` : ''}` }];
        return {
          ...state,
          chat: {
            ...state.chat,
            history: [...state.chat.history, ...next.entries, ...tail],
            run: undefined,
          },
        };
      }
      return { ...state, chat: { ...state.chat, run: next } };
    }
    case 'chat.scrolled':
      return {
        ...state,
        chat: { ...state.chat, scrollBack: Math.max(0, state.chat.scrollBack - action.delta) },
      };
    case 'connection.field-stepped': {
      const fields = ['mode', ...CONNECTION_FIELDS] as const;
      const at = fields.indexOf(state.connection.field);
      const field = fields[Math.max(0, Math.min(fields.length - 1, at + action.step))]!;
      return { ...state, connection: { ...state.connection, field } };
    }
    case 'connection.field-set': {
      const result = applyConnectionField(state.connection.draft, action.field, action.value);
      if ('error' in result) return { ...state, notice: { level: 'error', text: result.error } };
      return { ...state, connection: { ...state.connection, draft: result.settings } };
    }
    case 'connection.mode-toggled': {
      const draft = state.connection.draft;
      return {
        ...state,
        connection: {
          ...state.connection,
          draft: { ...draft, mode: draft.mode === 'local' ? 'remote' : 'local' },
        },
      };
    }
    case 'connection.saved':
      // what the file now holds; edits not saved stay in the draft
      return { ...state, connection: { ...state.connection, saved: action.settings } };
    case 'connection.loaded':
      return {
        ...state,
        connection: {
          ...state.connection,
          saved: action.settings,
          draft: action.settings,
          configPath: action.configPath,
        },
      };
  }
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

// ── events ──────────────────────────────────────────────────────────────────

export function visibleEventLines(events: EventsState): EventLine[] {
  const filter = compileLineFilter(events.filter);
  if (filter.empty) return events.lines;
  return events.lines.filter((line) => filter.matches(`${line.type} ${line.text}`));
}

function receiveEvents(state: DashboardState, batch: ReceivedEvent[]): DashboardState {
  let next = state;
  const fresh: EventLine[] = [];
  let nextN = state.events.nextN;
  let lastEventId = state.events.lastEventId;
  for (const { id, event } of batch) {
    if (event.type !== 'health.tick' && event.type !== 'events.gap' && id !== undefined)
      lastEventId = id;
    // health ticks refresh the Overview; in the log they would drown everything else.
    // A line is described before its event is applied: a removed node's name is still known.
    const line = event.type === 'health.tick' ? undefined : describeEvent(event, knownNames(next));
    next = applyEventToState(next, event);
    if (!line) continue;
    const { text, level } = line;
    fresh.push({ n: nextN++, id, ts: event.ts, type: event.type, text, level });
  }
  if (fresh.length === 0 && lastEventId === state.events.lastEventId) return next;
  const events = next.events;
  const all = events.lines.concat(fresh);
  const overflow = Math.max(0, all.length - events.capacity);
  const lines = overflow > 0 ? all.slice(overflow) : all;
  let cursor = events.cursor;
  if (cursor !== undefined && lines[0] && cursor < lines[0].n) cursor = lines[0].n;
  return {
    ...next,
    events: {
      ...events,
      lines,
      nextN,
      lastEventId,
      dropped: events.dropped + overflow,
      cursor,
      unseen: events.follow ? 0 : events.unseen + fresh.length,
    },
  };
}

function knownNames(state: DashboardState): KnownNames {
  return {
    node: (nodeId) => state.nodes.list.find((n) => n.nodeId === nodeId)?.name,
    request: (requestId) => state.nodes.pending.find((p) => p.requestId === requestId)?.name,
  };
}

/** What an event changes besides the log: presence, pending requests, health. */
function applyEventToState(state: DashboardState, event: ReceivedEvent['event']): DashboardState {
  switch (event.type) {
    case 'health.tick':
      return { ...state, gateway: { ...state.gateway, health: event.health, healthAt: event.ts } };
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

function scrollEvents(events: EventsState, delta: number): EventsState {
  const lines = visibleEventLines(events);
  if (lines.length === 0) return events;
  const last = lines.length - 1;
  const at =
    events.follow || events.cursor === undefined ? last : indexAtOrAfter(lines, events.cursor);
  const target = Math.max(0, Math.min(last, at + delta));
  // scrolling back down to the newest line resumes following, as in `less +F`
  if (target === last && delta > 0)
    return { ...events, follow: true, cursor: undefined, unseen: 0 };
  return { ...events, follow: false, cursor: lines[target]!.n };
}

function refilter(events: EventsState): EventsState {
  if (events.follow || events.cursor === undefined) return events;
  const lines = visibleEventLines(events);
  if (lines.length === 0) return { ...events, cursor: undefined, follow: true, unseen: 0 };
  return {
    ...events,
    cursor: lines[Math.min(lines.length - 1, indexAtOrAfter(lines, events.cursor))]!.n,
  };
}

/** Index of the line with `n`, or of the first one after it (lines are ordered by `n`). */
function indexAtOrAfter(lines: EventLine[], n: number): number {
  let lo = 0;
  let hi = lines.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (lines[mid]!.n < n) lo = mid + 1;
    else hi = mid;
  }
  return Math.min(lo, lines.length - 1);
}

function searchMatches(events: EventsState): (line: EventLine) => boolean {
  const pattern = compileLineFilter(events.search);
  return (line) => !pattern.empty && pattern.matches(`${line.type} ${line.text}`);
}

function searchEvents(state: DashboardState, search: string): DashboardState {
  const events = { ...state.events, search };
  if (search === '') return { ...state, events };
  const lines = visibleEventLines(events);
  const matches = searchMatches(events);
  // a log is searched from the newest line backwards
  for (let i = lines.length - 1; i >= 0; i--) {
    if (matches(lines[i]!))
      return { ...state, events: { ...events, follow: false, cursor: lines[i]!.n } };
  }
  return { ...state, events, notice: { level: 'warn', text: `no event matches "${search}"` } };
}

function stepSearch(state: DashboardState, step: 1 | -1): DashboardState {
  const events = state.events;
  if (events.search === '')
    return { ...state, notice: { level: 'info', text: 'no search yet: press s to search' } };
  const lines = visibleEventLines(events);
  if (lines.length === 0) return state;
  const matches = searchMatches(events);
  const start =
    events.follow || events.cursor === undefined
      ? lines.length
      : indexAtOrAfter(lines, events.cursor);
  for (let k = 1; k <= lines.length; k++) {
    const i = (((start + step * k) % lines.length) + lines.length) % lines.length;
    if (matches(lines[i]!)) {
      const wrapped = step > 0 ? i <= start : i >= start;
      return {
        ...state,
        events: { ...events, follow: false, cursor: lines[i]!.n },
        notice:
          wrapped && start < lines.length
            ? { level: 'info', text: 'search wrapped around' }
            : state.notice,
      };
    }
  }
  return { ...state, notice: { level: 'warn', text: `no event matches "${events.search}"` } };
}

// ── nodes ───────────────────────────────────────────────────────────────────

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

// ── chat ────────────────────────────────────────────────────────────────────

function updateRun(run: LiveRun, update: AgentRunUpdate): LiveRun {
  switch (update.kind) {
    case 'text-delta': {
      const last = run.entries.at(-1);
      const entries =
        last?.kind === 'assistant'
          ? [
              ...run.entries.slice(0, -1),
              { kind: 'assistant' as const, text: last.text + update.text },
            ]
          : [...run.entries, { kind: 'assistant' as const, text: update.text }];
      return { ...run, state: 'running', entries };
    }
    case 'tool-started':
      return {
        ...run,
        state: 'running',
        entries: [
          ...run.entries,
          {
            kind: 'tool',
            callId: update.callId,
            node: update.node,
            command: update.command,
            outcome: { state: 'running' },
          },
        ],
      };
    case 'tool-finished':
      return {
        ...run,
        entries: run.entries.map((e) =>
          e.kind === 'tool' && e.callId === update.callId ? { ...e, outcome: update.outcome } : e,
        ),
      };
    case 'state': {
      const answered = run.entries.some((e) => e.kind === 'assistant');
      const entries =
        update.text && !answered
          ? [...run.entries, { kind: 'assistant' as const, text: update.text }]
          : run.entries;
      return { ...run, state: update.state, error: update.error, entries };
    }
  }
}

/** The session after (or before) the open one in the picker; "new" sits before the first. */
export function steppedSession(chat: DashboardState['chat'], step: 1 | -1): string | undefined {
  const ids: (string | undefined)[] = [undefined, ...chat.sessions.map((s) => s.sessionId)];
  const at = Math.max(0, ids.indexOf(chat.sessionId));
  return ids[Math.max(0, Math.min(ids.length - 1, at + step))];
}
