import type { PaneDefinition } from '../pane.js';
import { CHAT_BINDINGS } from './keys.js';
import { ChatPane } from './view.js';

export const chatPane: PaneDefinition<'chat'> = {
  id: 'chat',
  title: 'Chat',
  aliases: ['c', 'agent'],
  summary: 'show the Chat pane',
  view: ChatPane,
  bindings: CHAT_BINDINGS,
};
