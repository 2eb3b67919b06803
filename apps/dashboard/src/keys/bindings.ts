import { paneRows } from '../layout.js';
import { PANE_DEFINITIONS, PANES, type PaneId, paneDefinition } from '../panes/index.js';
import type { DashboardState, TextInput } from '../state/index.js';
import { type KeyBinding, open, type Scope } from './binding-kit.js';
import { parseCommand } from './command-line.js';
import { dispatch, type Effect, normalMode, notify, perform } from './effects.js';
import { isTypedText, type KeyPress, keyLabel } from './key-press.js';

export type { KeyBinding, Scope } from './binding-kit.js';

/** Tab and Shift-Tab: the next or previous pane, wrapping around. */
function steppedPane(state: DashboardState, step: 1 | -1): PaneId {
  const at = PANES.indexOf(state.pane);
  return PANES[(at + step + PANES.length) % PANES.length]!;
}

/** Esc: what the pane has open, filtered or paused first, else back to the first pane. */
function backOut(state: DashboardState): Effect[] {
  const own = paneDefinition(state.pane).backOut?.(state);
  if (own) return own;
  if (state.pane !== PANES[0]) return [dispatch({ type: 'pane.selected', pane: PANES[0]! })];
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
    keys: PANES.map((_, i) => String(i + 1)),
    description: `go to pane ${PANE_DEFINITIONS.map((pane, i) => `${i + 1} ${pane.title}`).join(', ')}`,
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
    run: (state) => [dispatch({ type: 'pane.selected', pane: steppedPane(state, 1) })],
  },
  {
    id: 'pane.previous',
    keys: ['shift+tab'],
    description: 'previous pane',
    scope: 'global',
    run: (state) => [dispatch({ type: 'pane.selected', pane: steppedPane(state, -1) })],
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

  // ── the panes, in tab order ──────────────────────────────────────────────
  ...PANE_DEFINITIONS.flatMap((pane) => pane.bindings),

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
  if (binding.id === 'pane.goto') return [`1-${PANES.length}`];
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
  ...(Object.fromEntries(PANE_DEFINITIONS.map((pane) => [pane.id, pane.title])) as Record<
    PaneId,
    string
  >),
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
