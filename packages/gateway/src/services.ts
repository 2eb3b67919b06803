import type { HealthOutput, LoopgateConfig, StatusOutput } from '@loopgate/protocol';
import type { Logger } from 'pino';
import type { AgentRuntime } from './agent/index.js';
import type { OperatorTokens } from './auth/index.js';
import type { ChannelManager } from './channels/index.js';
import type { EventBus } from './events/index.js';
import type { LogRing } from './log/index.js';
import type { NodeService } from './nodes/index.js';
import type { ConnectionInfo, GatewayContext } from './router/context.js';
import type { SessionStore } from './sessions/index.js';

/** Live connections by id, for counts, presence and targeted closes (revoke, rotate). */
export interface ConnectionTracker {
  all(): Iterable<ConnectionInfo>;
  counts(): { operators: number; nodes: number; total: number };
}

/**
 * Everything a procedure may reach. Each concern (nodes, agent, sessions,
 * channels) adds its service here and is constructed in `gateway.ts`.
 */
export interface GatewayServices {
  config: LoopgateConfig;
  stateDir: string;
  log: Logger;
  /** What `logs` serves: the recent lines in memory and the file behind them. */
  logs: { ring: LogRing; file: string | undefined };
  events: EventBus;
  startedAt: number;
  connections: ConnectionTracker;
  /** Pairing, presence and invocations of nodes (see nodes/index.ts). */
  nodes: NodeService;
  /** Sessions and their durable transcripts (see sessions/index.ts). */
  sessions: SessionStore;
  /** Agent runs: start, wait, cancel, events (see agent/index.ts). */
  agent: AgentRuntime;
  /** Telegram, webhook and webchat; `send` (see channels/index.ts). */
  channels: ChannelManager;
  health(): HealthOutput;
  status(options: { deep: boolean }): Promise<StatusOutput>;
  /**
   * Replaces the generated gateway token and closes every socket that
   * authenticated with the old one (named operator tokens stay valid).
   * Configured tokens are changed in the config instead (refused here with
   * a hint).
   */
  rotateToken(): Promise<{ tokenPath: string }>;
  /** Named, scoped operator tokens; revoking one closes the sockets using it. */
  operatorTokens: OperatorTokens;
  /** Runs a procedure by dotted name (the `call` door) with the caller's context. */
  dispatch(
    method: string,
    params: unknown,
    ctx: GatewayContext,
    signal: AbortSignal | undefined,
  ): Promise<unknown>;
}
