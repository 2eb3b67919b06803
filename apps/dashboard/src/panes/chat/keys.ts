import { all, type KeyBinding, needs, open } from '../../keys/binding-kit.js';
import { dispatch, perform } from '../../keys/effects.js';
import { pageStep } from '../../layout.js';
import { steppedSession } from '../../state/index.js';

export const CHAT_BINDINGS: readonly KeyBinding[] = [
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
];
