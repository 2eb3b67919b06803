import type { AgentErrorCode, TranscriptEntry } from '@loopgate/protocol';
import type { AgentToolbox } from './tools.js';

/** Everything a provider gets for one turn. */
export type ProviderTurn = {
  runId: string;
  sessionId: string;
  /** The user's message for this turn. */
  message: string;
  /** Earlier transcript entries of the session, oldest first (bounded by `agent.maxHistoryEntries`). */
  history: readonly TranscriptEntry[];
  /** The only way to reach a node. */
  toolbox: AgentToolbox;
  signal: AbortSignal;
  /** Streams assistant text as it arrives; `round` counts requests to the model within the turn. */
  onTextDelta(round: number, text: string): void;
  /** A round's complete assistant text, reported before any tool call of that round runs. */
  onAssistantMessage(round: number, text: string): void;
};

export type ProviderTurnResult = {
  /** The answer for the user (what a channel sends back). */
  text: string;
};

/** A source of assistant turns: the embedded `local` one, or a model behind an API. */
export interface AgentProvider {
  readonly name: string;
  runTurn(turn: ProviderTurn): Promise<ProviderTurnResult>;
}

/**
 * A provider failure an operator can act on. Messages name the endpoint and
 * the cause (never the key, never a response body that could echo it).
 */
export class ProviderError extends Error {
  override readonly name = 'ProviderError';
  constructor(
    readonly code: AgentErrorCode,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
  }
}
