export {
  AgentRuntime,
  type AgentRuntimeOptions,
  createProvider,
  type StartRunInput,
} from './agent-runtime.js';
export { type ChatMessage, chatMessagesFromTranscript } from './chat-messages.js';
export { ChatStreamAssembler, readServerSentEvents } from './chat-stream.js';
export { LocalProvider, parseDirective } from './local-provider.js';
export { nodeServiceInvoker } from './node-invoker.js';
export { OpenAiProvider, type OpenAiProviderOptions } from './openai-provider.js';
export {
  type AgentProvider,
  ProviderError,
  type ProviderTurn,
  type ProviderTurnResult,
} from './provider.js';
export { RunEventHub, RunEventLog } from './run-events.js';
export { nextRunState, SessionRunQueue } from './run-queue.js';
export type {
  NodeCommandInfo,
  NodeToolInfo,
  ToolInvokeRequest,
  ToolInvoker,
} from './tool-invoker.js';
export { AgentToolbox, buildToolCatalog, type ToolSpec, toolNameFor } from './tools.js';
