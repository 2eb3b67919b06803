import type { DashboardState, Feature, PaneId, TextInput } from '../state/index.js';
import { dispatch, type Effect } from './effects.js';
import type { KeyPress } from './key-press.js';

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

/** Opens a one-line text field. */
export const open = (input: TextInput): Effect =>
  dispatch({ type: 'mode.set', mode: { kind: 'input', input } });

/** Enabled while the gateway has the feature and the link is open. */
export function needs(feature: Feature, what: string): (state: DashboardState) => true | string {
  return (state) => {
    if (state.features[feature] === 'unavailable')
      return `${what} is not available on this gateway`;
    if (state.connection.link.state !== 'open') return 'not connected';
    return true;
  };
}

/** Enabled when every check is; the first reason otherwise. */
export function all(...checks: ((state: DashboardState) => true | string)[]) {
  return (state: DashboardState): true | string => {
    for (const check of checks) {
      const result = check(state);
      if (result !== true) return result;
    }
    return true;
  };
}
