import {
  GatewayError,
  type GatewayEvent,
  type HealthOutput,
  isGatewayError,
  type StatusOutput,
} from '@loopgate/protocol';

/**
 * What the dashboard needs from a gateway, and nothing more. The panes are
 * written against this narrow port rather than the full tRPC client so that a
 * gateway without some procedures (an older build, or one where a concern is
 * not wired yet) makes that pane say "not available on this gateway" instead
 * of failing. `createClientPort` (client-port.ts) adapts the real client.
 *
 * Every method rejects with a `GatewayError` (from @loopgate/protocol); a
 * procedure the gateway does not have rejects with `UNAVAILABLE` and
 * `details.missingProcedure` set (see `isMissingProcedure`).
 */
export interface GatewayPort {
  /** Where this port is connected, as an operator would type it (`ws://127.0.0.1:18789`). */
  readonly target: string;
  readonly link: Observable<LinkStatus>;
  /** How the bytes travel: direct, SSH tunnel, TLS pin. */
  readonly transport: Observable<TransportInfo>;

  health(): Promise<HealthOutput>;
  /** Who this connection is and which procedures it may not call (a gateway without scopes lacks it). */
  whoami(): Promise<AccessView>;
  status(deep: boolean): Promise<StatusOutput>;
  /** The gateway's event stream; resumes after `lastEventId` (the client resubscribes on reconnect). */
  subscribeEvents(lastEventId: string | undefined, handlers: EventHandlers): Unsubscribe;

  listNodes(): Promise<NodeView[]>;
  listPairRequests(): Promise<PairRequestView[]>;
  approvePairing(requestId: string): Promise<void>;
  rejectPairing(requestId: string): Promise<void>;
  removeNode(nodeId: string): Promise<void>;
  invokeNode(request: InvokeRequest): Promise<unknown>;

  send(request: SendRequest): Promise<{ messageId: string | undefined }>;

  listSessions(): Promise<SessionView[]>;
  sessionHistory(sessionId: string): Promise<ChatEntry[]>;
  /** Starts one agent turn; the turn streams through `watchAgentRun`. */
  startAgentRun(
    request: AgentRunRequest,
  ): Promise<{ runId: string; sessionId: string | undefined }>;
  watchAgentRun(runId: string, handlers: AgentRunHandlers): Unsubscribe;

  /** Restarts the SSH tunnel, when there is one. */
  restartTunnel(): Promise<void>;
  close(): Promise<void>;
}

/** The scope of this connection and what it may not call. */
export type AccessView = {
  /** `operator.read`, `operator.write` or `operator.admin`. */
  principal: string;
  /** Procedure path → the scope it needs, for each one this connection may not call. */
  denied: Readonly<Record<string, string>>;
};

export type Unsubscribe = () => void;

export interface Observable<T> {
  get(): T;
  subscribe(listener: (value: T) => void): Unsubscribe;
}

/** The client's connection state, as the status line shows it. */
export type LinkStatus =
  | { state: 'connecting' }
  | { state: 'open' }
  | { state: 'reconnecting'; attempt: number; reason?: string; retryInMs?: number }
  | { state: 'unauthorized'; reason: string }
  | { state: 'pin-mismatch'; expected: string[]; presented: string | undefined }
  | { state: 'closed'; reason?: string };

export type TunnelState =
  | { state: 'starting' }
  | { state: 'up'; localPort?: number }
  | { state: 'retrying'; attempt: number; reason: string }
  | { state: 'failed'; reason: string };

export type TransportInfo = {
  /** `tunnel` when an SSH forward carries the socket, `direct` otherwise. */
  via: 'direct' | 'tunnel';
  tls: {
    /** Whether the target is `wss://`. */
    enabled: boolean;
    /** SHA-256 of the certificate the server presented, once known. */
    presented: string | undefined;
    /** Fingerprints this client pins (empty: system CAs, or plain `ws://`). */
    pinned: string[];
  };
  tunnel: TunnelState | undefined;
  ssh: SshSettings | undefined;
};

export type SshSettings = {
  target: string;
  port?: number;
  identityFile?: string;
  localPort?: number;
  remotePort?: number;
};

export type EventHandlers = {
  onEvent(id: string | undefined, event: GatewayEvent): void;
  onError(error: Error): void;
};

export type NodeView = {
  nodeId: string;
  name: string;
  state: 'online' | 'offline';
  platform: string | undefined;
  version: string | undefined;
  commands: string[];
  lastSeenAt: number | undefined;
  /** The code of the key the node proves; undefined for a node paired before node keys. */
  pairingCode: string | undefined;
};

export type PairRequestView = {
  requestId: string;
  /** Compared with the code the node prints before approving. */
  pairingCode: string;
  /** Another key asked for the same name: approve by request, never by name. */
  contested: boolean;
  name: string;
  platform: string | undefined;
  commands: string[];
  remoteAddress: string | undefined;
  requestedAt: number | undefined;
};

export type InvokeRequest = {
  nodeId: string;
  command: string;
  params: unknown;
  idempotencyKey: string;
};

export type SendRequest = { channel: string; to: string; text: string; idempotencyKey: string };

export type SessionView = {
  sessionId: string;
  channel: string;
  peer: string | undefined;
  updatedAt: number | undefined;
  /** The start of the last message, for the picker. */
  lastText: string | undefined;
};

/** One line of a conversation, history or live. */
export type ChatEntry =
  | { kind: 'user'; text: string }
  | { kind: 'assistant'; text: string }
  | {
      kind: 'tool';
      callId: string;
      node: string | undefined;
      command: string;
      outcome: ToolOutcome;
    }
  | { kind: 'error'; text: string };

export type ToolOutcome =
  | { state: 'running' }
  | { state: 'ok'; summary: string }
  | { state: 'failed'; code: string; message: string };

export type AgentRunRequest = {
  sessionId: string | undefined;
  message: string;
  idempotencyKey: string;
};

export type AgentRunUpdate =
  | { kind: 'text-delta'; text: string }
  | { kind: 'tool-started'; callId: string; node: string | undefined; command: string }
  | { kind: 'tool-finished'; callId: string; outcome: ToolOutcome }
  /** `text` is the final answer, for providers that do not stream deltas. */
  | { kind: 'state'; state: AgentRunState; error?: string; text?: string };

export type AgentRunState = 'queued' | 'running' | 'completed' | 'failed' | 'cancelled';

export type AgentRunHandlers = {
  onUpdate(update: AgentRunUpdate): void;
  onError(error: Error): void;
};

/** The error a port method rejects with when the gateway lacks the procedure behind it. */
export function missingProcedure(path: string): GatewayError {
  return new GatewayError('UNAVAILABLE', `this gateway has no ${path} procedure`, {
    details: { missingProcedure: path },
  });
}

export function isMissingProcedure(error: unknown): boolean {
  return (
    isGatewayError(error, 'UNAVAILABLE') && typeof error.details?.missingProcedure === 'string'
  );
}
