import { compileLineFilter } from '../../state/line-filter.js';
import type {
  DashboardAction,
  DashboardState,
  EventLine,
  EventsState,
  ReceivedEvent,
} from '../../state/types.js';
import { applyPresenceEvent, knownNames } from '../nodes/state.js';
import { describeEvent } from './event-lines.js';

/** The Events pane's slice: the bounded log, following, filter and search. */
export function eventsReducer(state: DashboardState, action: DashboardAction): DashboardState {
  switch (action.type) {
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
    default:
      return state;
  }
}

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
    next =
      event.type === 'health.tick'
        ? { ...next, gateway: { ...next.gateway, health: event.health, healthAt: event.ts } }
        : applyPresenceEvent(next, event);
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
