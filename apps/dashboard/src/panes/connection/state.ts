import { CONNECTION_FIELDS, type DashboardAction, type DashboardState } from '../../state/types.js';
import { applyConnectionField } from './settings.js';

/** The Connection pane's slice: the settings being edited and what the config file holds. */
export function connectionReducer(state: DashboardState, action: DashboardAction): DashboardState {
  switch (action.type) {
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
    default:
      return state;
  }
}
