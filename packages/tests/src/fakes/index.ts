export {
  type ChatReply,
  completionChunk,
  type FakeChatCompletions,
  openaiAgentConfig,
  type RecordedChatRequest,
  type StreamPiece,
  startFakeChatCompletions,
  textReply,
  toolCallReply,
} from './chat-completions-server.js';
export { createGate, type Gate } from './http-server.js';
export {
  type FakeTelegramBotApi,
  type GetUpdatesCall,
  type SentMessage,
  startFakeTelegramBotApi,
} from './telegram-bot-api.js';
