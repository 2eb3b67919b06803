import { dashboardReducer } from './reducer.js';
import type { DashboardAction, DashboardState } from './types.js';

/**
 * The one place the dashboard's state lives. `getState` returns immutable
 * snapshots (React's `useSyncExternalStore` compares them by identity).
 */
export interface DashboardStore {
  getState(): DashboardState;
  dispatch(action: DashboardAction): void;
  subscribe(listener: () => void): () => void;
}

export function createDashboardStore(initial: DashboardState): DashboardStore {
  let state = initial;
  const listeners = new Set<() => void>();
  return {
    getState: () => state,
    dispatch(action) {
      const next = dashboardReducer(state, action);
      if (next === state) return;
      state = next;
      for (const listener of listeners) listener();
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
      };
    },
  };
}
