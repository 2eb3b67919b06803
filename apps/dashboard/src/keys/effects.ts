import type { DashboardAction, OperatorIntent } from '../state/index.js';

/**
 * What a key (or a `:` command) asks for, as data: a state change, an intent
 * for the controller to carry out, or an intent that first needs a "yes".
 */
export type Effect =
  | { dispatch: DashboardAction }
  | { perform: OperatorIntent }
  | { confirm: OperatorIntent };

export const dispatch = (action: DashboardAction): Effect => ({ dispatch: action });
export const perform = (intent: OperatorIntent): Effect => ({ perform: intent });
export const confirm = (intent: OperatorIntent): Effect => ({ confirm: intent });
export const notify = (level: 'info' | 'ok' | 'warn' | 'error', text: string): Effect =>
  dispatch({ type: 'notice', notice: { level, text } });
export const normalMode: Effect = dispatch({ type: 'mode.set', mode: { kind: 'normal' } });
