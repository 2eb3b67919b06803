import { type KeyBinding, open } from '../../keys/binding-kit.js';
import { dispatch, type Effect } from '../../keys/effects.js';
import { pageStep } from '../../layout.js';
import type { DashboardState } from '../../state/index.js';

/** Esc clears the filter, then the search, then resumes following. */
export function eventsBackOut(state: DashboardState): Effect[] | undefined {
  if (state.events.filter) return [dispatch({ type: 'events.filtered', filter: '' })];
  if (state.events.search) return [dispatch({ type: 'events.searched', search: '' })];
  if (!state.events.follow) return [dispatch({ type: 'events.followed' })];
  return undefined;
}

export const EVENTS_BINDINGS: readonly KeyBinding[] = [
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
];
