import type { AgentRunUpdate, ChatEntry } from '../../gateway-port.js';
import type { DashboardAction, DashboardState, LiveRun } from '../../state/types.js';

/** The Chat pane's slice: sessions, the open transcript and the live agent turn. */
export function chatReducer(state: DashboardState, action: DashboardAction): DashboardState {
  switch (action.type) {
    case 'chat.sessions-loaded':
      return { ...state, chat: { ...state.chat, sessions: action.sessions } };
    case 'chat.session-opened': {
      // a live turn of another session keeps running on the gateway, out of this view
      const run = state.chat.run?.sessionId === action.sessionId ? state.chat.run : undefined;
      return {
        ...state,
        chat: {
          ...state.chat,
          sessionId: action.sessionId,
          history: [],
          run,
          scrollBack: 0,
          error: undefined,
        },
      };
    }
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
    default:
      return state;
  }
}

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
