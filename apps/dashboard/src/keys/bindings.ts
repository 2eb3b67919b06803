import { pageStep, paneRows } from '../layout.js';
import {
  connectionFieldText,
  type DashboardState,
  type Feature,
  PANES,
  type PaneId,
  selectedNodeRow,
  steppedSession,
  type TextInput,
} from '../state/index.js';
import { parseCommand } from './command-line.js';
import { confirm, dispatch, type Effect, normalMode, notify, perform } from './effects.js';
import { isTypedText, type KeyPress, keyLabel } from './key-press.js';

/**
 * Where a binding applies. `global` and the pane ids apply in normal mode;
 * the others while their overlay has the keyboard; `always` in every mode.
 */
export type Scope = 'always' | 'global' | PaneId | 'help' | 'confirm' | 'pick-command' | 'text';

export type KeyBinding = {
  id: string;
  /** Key names (see key-press.ts); `text` bindings also take any typed text. */
  keys: readonly string[];
  description: string;
  scope: Scope;
  /** Short label for the footer hint bar; bindings without one only appear in `?`. */
  hint?: string;
  /** Changes the gateway or the config file: hidden and refused in `--read-only`. */
  mutating?: boolean;
  /**
   * The gateway procedure it calls: unavailable, with the scope it needs,
   * when the connection's `whoami` lists it as denied.
   */
  calls?: string;
  /** Whether it can be done now, or why not (shown in the footer, help, and when pressed). */
  enabled?: (state: DashboardState) => true | string;
  run: (state: DashboardState, press: KeyPress) => Effect[];
  /** Catches keys not listed in `keys` (typing into a field). */
  takesText?: boolean;
};

const open = (input: TextInput): Effect =>
  dispatch({ type: 'mode.set', mode: { kind: 'input', input } });

function needs(feature: Feature, what: string): (state: DashboardState) => true | string {
  return (state) => {
    if (state.features[feature] === 'unavailable')
      return `${what} is not available on this gateway`;
    if (state.connection.link.state !== 'open') return 'not connected';
    return true;
  };
}

function selectedPending(state: DashboardState) {
  const row = selectedNodeRow(state.nodes);
  return row?.kind === 'pending' ? row.request : undefined;
}

function selectedNode(state: DashboardState) {
  const row = selectedNodeRow(state.nodes);
  return row?.kind === 'node' ? row.node : undefined;
}

function all(...checks: ((state: DashboardState) => true | string)[]) {
  return (state: DashboardState): true | string => {
    for (const check of checks) {
      const result = check(state);
      if (result !== true) return result;
    }
    return true;
  };
}

/** The certificate the server presents: from the probe, or from the mismatch report. */
function presentedFingerprint(state: DashboardState): string | undefined {
  const { link, transport } = state.connection;
  return transport.tls.presented ?? (link.state === 'pin-mismatch' ? link.presented : undefined);
}

/** Esc: close what is open, clear what is filtered, resume what is paused, else go home. */
function backOut(state: DashboardState): Effect[] {
  if (state.pane === 'nodes' && state.nodes.invoke) return [dispatch({ type: 'invoke.dismissed' })];
  if (state.pane === 'nodes' && state.nodes.filter)
    return [dispatch({ type: 'nodes.filtered', filter: '' })];
  if (state.pane === 'events' && state.events.filter)
    return [dispatch({ type: 'events.filtered', filter: '' })];
  if (state.pane === 'events' && state.events.search)
    return [dispatch({ type: 'events.searched', search: '' })];
  if (state.pane === 'events' && !state.events.follow)
    return [dispatch({ type: 'events.followed' })];
  if (state.pane !== 'overview') return [dispatch({ type: 'pane.selected', pane: 'overview' })];
  return [];
}

function submitInput(state: DashboardState, input: TextInput): Effect[] {
  switch (input.kind) {
    case 'command': {
      const result = parseCommand(input.text, state);
      return 'error' in result ? [notify('error', result.error)] : result.effects;
    }
    case 'events-filter':
      return [normalMode, dispatch({ type: 'events.filtered', filter: input.text })];
    case 'events-search':
      return [normalMode, dispatch({ type: 'events.searched', search: input.text })];
    case 'nodes-filter':
      return [normalMode, dispatch({ type: 'nodes.filtered', filter: input.text })];
    case 'invoke-params': {
      let params: unknown;
      try {
        params = JSON.parse(input.text.trim() || '{}');
      } catch (error) {
        return [notify('error', `params are not valid JSON: ${(error as Error).message}`)];
      }
      return [
        normalMode,
        perform({ kind: 'invoke', nodeId: input.nodeId, command: input.command, params }),
      ];
    }
    case 'chat-message': {
      const text = input.text.trim();
      if (text === '') return [normalMode];
      return [normalMode, perform({ kind: 'chat', sessionId: state.chat.sessionId, text })];
    }
    case 'connection-field':
      return [
        normalMode,
        dispatch({ type: 'connection.field-set', field: input.field, value: input.text }),
      ];
  }
}

/** Typing into a live filter applies it at once, like k9s. */
function liveFilter(input: TextInput, text: string): Effect[] {
  if (input.kind === 'events-filter') return [dispatch({ type: 'events.filtered', filter: text })];
  if (input.kind === 'nodes-filter') return [dispatch({ type: 'nodes.filtered', filter: text })];
  return [];
}

function inputOf(state: DashboardState): TextInput | undefined {
  return state.mode.kind === 'input' ? state.mode.input : undefined;
}

export const KEY_BINDINGS: readonly KeyBinding[] = [
  // ── always ────────────────────────────────────────────────────────────────
  {
    id: 'app.force-quit',
    keys: ['ctrl+c'],
    description: 'quit from anywhere',
    scope: 'always',
    run: () => [perform({ kind: 'quit' })],
  },

  // ── global (normal mode) ──────────────────────────────────────────────────
  {
    id: 'pane.goto',
    keys: ['1', '2', '3', '4', '5'],
    description: 'go to pane 1 Overview, 2 Nodes, 3 Chat, 4 Events, 5 Connection',
    scope: 'global',
    hint: 'panes',
    run: (_state, press) => {
      const pane = PANES[Number(press.name) - 1];
      return pane ? [dispatch({ type: 'pane.selected', pane })] : [];
    },
  },
  {
    id: 'pane.next',
    keys: ['tab'],
    description: 'next pane',
    scope: 'global',
    run: () => [dispatch({ type: 'pane.cycled', step: 1 })],
  },
  {
    id: 'pane.previous',
    keys: ['shift+tab'],
    description: 'previous pane',
    scope: 'global',
    run: () => [dispatch({ type: 'pane.cycled', step: -1 })],
  },
  {
    id: 'app.back',
    keys: ['esc'],
    description: 'back out: close, clear the filter, resume following, or go to Overview',
    scope: 'global',
    run: backOut,
  },
  {
    id: 'app.help',
    keys: ['?'],
    description: 'every key and command (type to filter)',
    scope: 'global',
    hint: 'help',
    run: () => [dispatch({ type: 'mode.set', mode: { kind: 'help', filter: '', scroll: 0 } })],
  },
  {
    id: 'app.command',
    keys: [':'],
    description: 'command mode (:nodes, :invoke, :send, :approve, :connect …)',
    scope: 'global',
    hint: 'cmd',
    run: () => [open({ kind: 'command', text: '' })],
  },
  {
    id: 'app.refresh',
    keys: ['r'],
    description: 'refetch status, nodes, pairing requests and sessions',
    scope: 'global',
    hint: 'refresh',
    enabled: (state) => (state.connection.link.state === 'open' ? true : 'not connected'),
    run: () => [perform({ kind: 'refresh', deep: false })],
  },
  {
    id: 'app.quit',
    keys: ['q'],
    description: 'quit',
    scope: 'global',
    hint: 'quit',
    run: () => [perform({ kind: 'quit' })],
  },

  // ── Overview ──────────────────────────────────────────────────────────────
  {
    id: 'overview.deep',
    keys: ['d'],
    description: 'deep status: probe channels and nodes live',
    scope: 'overview',
    hint: 'deep probe',
    enabled: needs('status', 'status'),
    run: () => [perform({ kind: 'refresh', deep: true })],
  },

  // ── Nodes ─────────────────────────────────────────────────────────────────
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

  // ── Chat ──────────────────────────────────────────────────────────────────
  {
    id: 'chat.compose',
    keys: ['enter', 'm'],
    description: 'write a message to the agent in the open session',
    scope: 'chat',
    hint: 'message',
    mutating: true,
    calls: 'agent',
    enabled: all(needs('agent', 'the agent'), (s) =>
      s.chat.run ? 'wait for the running turn' : true,
    ),
    run: () => [open({ kind: 'chat-message', text: '' })],
  },
  {
    id: 'chat.new',
    keys: ['n'],
    description: 'start a new session (created on the first message)',
    scope: 'chat',
    hint: 'new',
    mutating: true,
    calls: 'agent',
    enabled: needs('agent', 'the agent'),
    run: () => [
      dispatch({ type: 'chat.session-opened', sessionId: undefined }),
      open({ kind: 'chat-message', text: '' }),
    ],
  },
  {
    id: 'chat.previous-session',
    keys: ['up', 'k'],
    description: 'open the previous session',
    scope: 'chat',
    hint: 'session',
    enabled: needs('sessions', 'sessions'),
    run: (state) => {
      const id = steppedSession(state.chat, -1);
      return id === undefined
        ? [dispatch({ type: 'chat.session-opened', sessionId: undefined })]
        : [perform({ kind: 'open-session', sessionId: id })];
    },
  },
  {
    id: 'chat.next-session',
    keys: ['down', 'j'],
    description: 'open the next session',
    scope: 'chat',
    enabled: needs('sessions', 'sessions'),
    run: (state) => {
      const id = steppedSession(state.chat, 1);
      return id === undefined ? [] : [perform({ kind: 'open-session', sessionId: id })];
    },
  },
  {
    id: 'chat.scroll-up',
    keys: ['pgup'],
    description: 'scroll the conversation up',
    scope: 'chat',
    run: (state) => [dispatch({ type: 'chat.scrolled', delta: -pageStep(state.terminal) })],
  },
  {
    id: 'chat.scroll-down',
    keys: ['pgdn'],
    description: 'scroll the conversation down',
    scope: 'chat',
    run: (state) => [dispatch({ type: 'chat.scrolled', delta: pageStep(state.terminal) })],
  },

  // ── Events ────────────────────────────────────────────────────────────────
  {
    id: 'events.up',
    keys: ['up', 'k'],
    description: 'scroll up (pauses following)',
    scope: 'events',
    hint: 'scroll',
    run: () => [dispatch({ type: 'events.scrolled', delta: -1 })],
  },
  {
    id: 'events.down',
    keys: ['down', 'j'],
    description: 'scroll down (follows again at the bottom)',
    scope: 'events',
    run: () => [dispatch({ type: 'events.scrolled', delta: 1 })],
  },
  {
    id: 'events.page-up',
    keys: ['pgup'],
    description: 'page up',
    scope: 'events',
    run: (state) => [dispatch({ type: 'events.scrolled', delta: -pageStep(state.terminal) })],
  },
  {
    id: 'events.page-down',
    keys: ['pgdn'],
    description: 'page down',
    scope: 'events',
    run: (state) => [dispatch({ type: 'events.scrolled', delta: pageStep(state.terminal) })],
  },
  {
    id: 'events.top',
    keys: ['home', 'g'],
    description: 'oldest buffered event',
    scope: 'events',
    run: () => [dispatch({ type: 'events.top' })],
  },
  {
    id: 'events.follow',
    keys: ['end', 'G', 'f'],
    description: 'follow new events',
    scope: 'events',
    hint: 'follow',
    enabled: (state) => (state.events.follow ? 'already following' : true),
    run: () => [dispatch({ type: 'events.followed' })],
  },
  {
    id: 'events.filter',
    keys: ['/'],
    description: 'filter the log (regex, ! inverts)',
    scope: 'events',
    hint: 'filter',
    run: (state) => [open({ kind: 'events-filter', text: state.events.filter })],
  },
  {
    id: 'events.search',
    keys: ['s'],
    description: 'search the log (regex); n / N for the next / previous match',
    scope: 'events',
    hint: 'search',
    run: (state) => [open({ kind: 'events-search', text: state.events.search })],
  },
  {
    id: 'events.next-match',
    keys: ['n'],
    description: 'next search match (newer)',
    scope: 'events',
    enabled: (state) => (state.events.search ? true : 'search first (s)'),
    run: () => [dispatch({ type: 'events.search-stepped', step: 1 })],
  },
  {
    id: 'events.previous-match',
    keys: ['N'],
    description: 'previous search match (older)',
    scope: 'events',
    enabled: (state) => (state.events.search ? true : 'search first (s)'),
    run: () => [dispatch({ type: 'events.search-stepped', step: -1 })],
  },
  {
    id: 'events.timestamps',
    keys: ['t'],
    description: 'show or hide timestamps',
    scope: 'events',
    hint: 'time',
    run: () => [dispatch({ type: 'events.timestamps-toggled' })],
  },

  // ── Connection ────────────────────────────────────────────────────────────
  {
    id: 'connection.up',
    keys: ['up', 'k'],
    description: 'previous setting',
    scope: 'connection',
    hint: 'select',
    run: () => [dispatch({ type: 'connection.field-stepped', step: -1 })],
  },
  {
    id: 'connection.down',
    keys: ['down', 'j'],
    description: 'next setting',
    scope: 'connection',
    run: () => [dispatch({ type: 'connection.field-stepped', step: 1 })],
  },
  {
    id: 'connection.edit',
    keys: ['enter', 'e'],
    description: 'edit the selected setting (mode toggles)',
    scope: 'connection',
    hint: 'edit',
    run: (state) => {
      const field = state.connection.field;
      if (field === 'mode') return [dispatch({ type: 'connection.mode-toggled' })];
      return [
        open({
          kind: 'connection-field',
          field,
          text: connectionFieldText(state.connection.draft, field),
        }),
      ];
    },
  },
  {
    id: 'connection.mode',
    keys: ['m'],
    description: 'switch mode between local and remote',
    scope: 'connection',
    run: () => [dispatch({ type: 'connection.mode-toggled' })],
  },
  {
    id: 'connection.apply',
    keys: ['c'],
    description: 'reconnect with the edited settings (without saving)',
    scope: 'connection',
    hint: 'connect',
    run: () => [perform({ kind: 'apply-connection' })],
  },
  {
    id: 'connection.save',
    keys: ['w'],
    description: 'write gateway.mode and gateway.remote.* to the config file (asks first)',
    scope: 'connection',
    hint: 'save',
    mutating: true,
    run: () => [confirm({ kind: 'save-connection' })],
  },
  {
    id: 'connection.restart-tunnel',
    keys: ['t'],
    description: 'restart the SSH tunnel',
    scope: 'connection',
    hint: 'tunnel',
    enabled: (state) =>
      state.connection.transport.via === 'tunnel' ? true : 'no SSH tunnel in use',
    run: () => [perform({ kind: 'restart-tunnel' })],
  },
  {
    id: 'connection.pin',
    keys: ['p'],
    description: 'pin the certificate the server presents (asks first; verify it out of band)',
    scope: 'connection',
    hint: 'pin',
    mutating: true,
    enabled: (state) => {
      const { tls } = state.connection.transport;
      if (!tls.enabled) return 'not a wss:// target';
      const presented = presentedFingerprint(state);
      if (!presented) return 'no certificate seen yet';
      if (tls.pinned.includes(presented) && state.connection.link.state !== 'pin-mismatch')
        return 'already pinned';
      return true;
    },
    run: (state) => [
      confirm({ kind: 'pin-fingerprint', fingerprint: presentedFingerprint(state)! }),
    ],
  },

  // ── help overlay ──────────────────────────────────────────────────────────
  {
    id: 'help.close',
    keys: ['esc', 'enter'],
    description: 'close help',
    scope: 'help',
    hint: 'close',
    run: () => [normalMode],
  },
  {
    id: 'help.scroll-up',
    keys: ['up', 'pgup'],
    description: 'scroll the key list up',
    scope: 'help',
    hint: 'scroll',
    run: (state, press) =>
      state.mode.kind === 'help'
        ? [
            dispatch({
              type: 'mode.set',
              mode: {
                ...state.mode,
                scroll: Math.max(
                  0,
                  state.mode.scroll - (press.name === 'up' ? 1 : paneRows(state.terminal) - 2),
                ),
              },
            }),
          ]
        : [],
  },
  {
    id: 'help.scroll-down',
    keys: ['down', 'pgdn'],
    description: 'scroll the key list down',
    scope: 'help',
    run: (state, press) =>
      state.mode.kind === 'help'
        ? [
            dispatch({
              type: 'mode.set',
              mode: {
                ...state.mode,
                scroll:
                  state.mode.scroll + (press.name === 'down' ? 1 : paneRows(state.terminal) - 2),
              },
            }),
          ]
        : [],
  },
  {
    id: 'help.erase',
    keys: ['backspace'],
    description: 'erase a filter character',
    scope: 'help',
    run: (state) =>
      state.mode.kind === 'help'
        ? [dispatch({ type: 'input.changed', text: state.mode.filter.slice(0, -1) })]
        : [],
  },
  {
    id: 'help.filter',
    keys: [],
    description: 'type to filter the keys',
    scope: 'help',
    hint: 'type to filter',
    takesText: true,
    run: (state, press) =>
      state.mode.kind === 'help'
        ? [dispatch({ type: 'input.changed', text: state.mode.filter + press.text })]
        : [],
  },

  // ── confirmation ──────────────────────────────────────────────────────────
  {
    id: 'confirm.yes',
    keys: ['y'],
    description: 'yes, do it',
    scope: 'confirm',
    hint: 'yes',
    run: (state) => (state.mode.kind === 'confirm' ? [normalMode, perform(state.mode.intent)] : []),
  },
  {
    id: 'confirm.no',
    keys: ['n', 'esc'],
    description: 'no, cancel',
    scope: 'confirm',
    hint: 'no',
    run: () => [normalMode, notify('info', 'cancelled')],
  },

  // ── text fields (command line, filters, params, messages) ────────────────
  {
    id: 'text.submit',
    keys: ['enter'],
    description: 'submit',
    scope: 'text',
    hint: 'submit',
    run: (state) => {
      const input = inputOf(state);
      return input ? submitInput(state, input) : [];
    },
  },
  {
    id: 'text.cancel',
    keys: ['esc'],
    description: 'cancel (a filter is cleared)',
    scope: 'text',
    hint: 'cancel',
    run: (state) => {
      const input = inputOf(state);
      return input ? [normalMode, ...liveFilter(input, '')] : [normalMode];
    },
  },
  {
    id: 'text.erase',
    keys: ['backspace'],
    description: 'erase a character',
    scope: 'text',
    run: (state) => {
      const input = inputOf(state);
      if (!input) return [];
      const text = input.text.slice(0, -1);
      return [dispatch({ type: 'input.changed', text }), ...liveFilter(input, text)];
    },
  },
  {
    id: 'text.clear',
    keys: ['ctrl+u'],
    description: 'clear the field',
    scope: 'text',
    run: (state) => {
      const input = inputOf(state);
      return input ? [dispatch({ type: 'input.changed', text: '' }), ...liveFilter(input, '')] : [];
    },
  },
  {
    id: 'text.type',
    keys: [],
    description: 'type (paste works)',
    scope: 'text',
    takesText: true,
    run: (state, press) => {
      const input = inputOf(state);
      if (!input) return [];
      // a pasted newline would end a one-line field: keep it a space
      const text = input.text + press.text.replace(/[\r\n]+/g, ' ');
      return [dispatch({ type: 'input.changed', text }), ...liveFilter(input, text)];
    },
  },
];

/** Scopes that have the keyboard now, most specific first. */
export function activeScopes(state: DashboardState): Scope[] {
  switch (state.mode.kind) {
    case 'normal':
      return [state.pane, 'global', 'always'];
    case 'help':
      return ['help', 'always'];
    case 'confirm':
      return ['confirm', 'always'];
    case 'pick-command':
      return ['pick-command', 'always'];
    case 'input':
      return ['text', 'always'];
  }
}

export function isHidden(binding: KeyBinding, state: DashboardState): boolean {
  return state.readOnly && binding.mutating === true;
}

export function bindingStatus(binding: KeyBinding, state: DashboardState): true | string {
  const needs = binding.calls === undefined ? undefined : state.access?.denied[binding.calls];
  if (needs !== undefined)
    return `needs ${needs} (this connection is ${state.access?.principal ?? 'unknown'})`;
  return binding.enabled ? binding.enabled(state) : true;
}

/** The binding a key press reaches now, if any. */
export function resolveBinding(state: DashboardState, press: KeyPress): KeyBinding | undefined {
  for (const scope of activeScopes(state)) {
    const inScope = KEY_BINDINGS.filter((b) => b.scope === scope);
    const exact = inScope.find((b) => b.keys.includes(press.name));
    if (exact) return exact;
    const typing = inScope.find((b) => b.takesText);
    if (typing && isTypedText(press)) return typing;
  }
  return undefined;
}

/**
 * Everything one key press does, as effects. A hidden (read-only) or disabled
 * binding does nothing but say why.
 */
export function effectsForKey(state: DashboardState, press: KeyPress): Effect[] {
  const binding = resolveBinding(state, press);
  if (!binding) return [];
  if (isHidden(binding, state))
    return [notify('warn', `read-only mode: ${binding.description} is turned off`)];
  const status = bindingStatus(binding, state);
  if (status !== true) return [notify('warn', `${binding.hint ?? binding.description}: ${status}`)];
  return binding.run(state, press);
}

export type Hint = { keys: string[]; label: string; disabledReason: string | undefined };

/** The footer: hinted bindings of the active scopes, in table order, most specific scope first. */
export function footerHints(state: DashboardState): Hint[] {
  const hints: Hint[] = [];
  const seenKeys = new Set<string>();
  for (const scope of activeScopes(state)) {
    for (const binding of KEY_BINDINGS) {
      if (binding.scope !== scope || !binding.hint || isHidden(binding, state)) continue;
      // a key already claimed by a more specific scope is not the global one here
      const keys = binding.keys.filter((k) => !seenKeys.has(k));
      if (binding.keys.length > 0 && keys.length === 0) continue;
      for (const k of keys) seenKeys.add(k);
      const status = bindingStatus(binding, state);
      hints.push({
        keys: paneKeys(binding, keys),
        label: binding.hint,
        disabledReason: status === true ? undefined : status,
      });
    }
  }
  return hints;
}

function paneKeys(binding: KeyBinding, keys: string[]): string[] {
  if (binding.id === 'pane.goto') return ['1-5'];
  if (binding.takesText) return [];
  // up/down pairs are shown as one arrow pair, not as every alias
  if (keys.includes('up')) return ['↑↓'];
  return keys.slice(0, 1);
}

export type HelpRow = {
  scope: Scope;
  keys: string;
  description: string;
  status: 'enabled' | 'hidden' | string;
};

export const SCOPE_TITLES: Record<Scope, string> = {
  always: 'Anywhere',
  global: 'All panes',
  overview: 'Overview',
  nodes: 'Nodes',
  chat: 'Chat',
  events: 'Events',
  connection: 'Connection',
  'pick-command': 'Choosing a command',
  help: 'Help',
  confirm: 'Confirmation',
  text: 'Text fields',
};

/** The `?` screen: every binding, with its state now, filtered by what was typed. */
export function helpRows(state: DashboardState, filter: string): HelpRow[] {
  const needle = filter.toLowerCase();
  const rows: HelpRow[] = [];
  for (const binding of KEY_BINDINGS) {
    const keys = binding.takesText ? 'text' : binding.keys.map(keyLabel).join(' ');
    const status = isHidden(binding, state) ? 'hidden' : bindingStatus(binding, state);
    const row: HelpRow = {
      scope: binding.scope,
      keys,
      description: binding.description,
      status: status === true ? 'enabled' : status,
    };
    const haystack =
      `${keys} ${binding.description} ${SCOPE_TITLES[binding.scope]} ${binding.id}`.toLowerCase();
    if (needle === '' || haystack.includes(needle)) rows.push(row);
  }
  return rows;
}
