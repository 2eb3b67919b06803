import * as z from 'zod';
import type { OmitFromEach } from './events.js';

/**
 * Sessions, agent runs, and `send`. One schema per message: the gateway
 * validates with these, the client infers its types from them, the CLI's
 * `--json` output is exactly these shapes.
 */

/** Session ids double as transcript file names, so they are restricted to a safe alphabet. */
export const SessionId = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$/, {
  error: 'expected 1-100 letters, digits, "_" or "-", starting with a letter or digit',
});
export type SessionId = z.infer<typeof SessionId>;

export const RunId = z.string().min(1).max(100);
/** Repeating a call with the same key returns the first call's result instead of acting again. */
export const IdempotencyKey = z.string().min(1).max(200);

export const MAX_MESSAGE_CHARS = 32_000;
const messageText = z
  .string()
  .min(1, { error: 'expected a non-empty message' })
  .max(MAX_MESSAGE_CHARS, { error: `expected at most ${MAX_MESSAGE_CHARS} characters` });

export const AgentRunState = z.enum(['queued', 'running', 'completed', 'failed', 'cancelled']);
export type AgentRunState = z.infer<typeof AgentRunState>;
export const TERMINAL_RUN_STATES: ReadonlySet<AgentRunState> = new Set([
  'completed',
  'failed',
  'cancelled',
]);

/**
 * Why a run or a tool call failed. Provider errors have their own codes so an
 * operator can tell "the model endpoint refused the key" from "the node was
 * offline"; tool errors carry the node's `GatewayErrorCode` as a string.
 */
export const AgentErrorCode = z.enum([
  'PROVIDER_AUTH',
  'PROVIDER_RATE_LIMITED',
  'PROVIDER_UNAVAILABLE',
  'PROVIDER_BAD_RESPONSE',
  'PROVIDER_TIMEOUT',
  'PROVIDER_NOT_CONFIGURED',
  'TOOL_ROUNDS_EXCEEDED',
  'CANCELLED',
  'INTERNAL',
]);
export type AgentErrorCode = z.infer<typeof AgentErrorCode>;

export const RunError = z.object({ code: z.string(), message: z.string() });
export type RunError = z.infer<typeof RunError>;

/** Where a user message came from: an operator client (`webchat`) or a channel peer. */
export const MessageSource = z.object({
  channel: z.string(),
  peer: z.string().optional(),
  /** The channel's own id for the inbound message (Telegram update, webhook message id). */
  messageId: z.string().optional(),
});
export type MessageSource = z.infer<typeof MessageSource>;

const entryBase = { seq: z.number().int().positive(), ts: z.number() };

/**
 * One line of a session transcript (JSONL). `round` groups an assistant
 * message with the tool calls it asked for, so the conversation can be
 * replayed to a model exactly as it happened.
 */
export const TranscriptEntry = z.discriminatedUnion('kind', [
  z.object({
    ...entryBase,
    kind: z.literal('user'),
    runId: z.string(),
    text: z.string(),
    source: MessageSource,
  }),
  z.object({
    ...entryBase,
    kind: z.literal('assistant'),
    runId: z.string(),
    round: z.number().int(),
    text: z.string(),
  }),
  z.object({
    ...entryBase,
    kind: z.literal('tool_call'),
    runId: z.string(),
    round: z.number().int(),
    callId: z.string(),
    /** The tool name the model saw. */
    tool: z.string(),
    nodeId: z.string(),
    command: z.string(),
    params: z.unknown(),
  }),
  z.object({
    ...entryBase,
    kind: z.literal('tool_result'),
    runId: z.string(),
    callId: z.string(),
    ok: z.boolean(),
    result: z.unknown().optional(),
    error: RunError.optional(),
    durationMs: z.number(),
  }),
  /** The end of a turn: how the run finished. */
  z.object({
    ...entryBase,
    kind: z.literal('turn_end'),
    runId: z.string(),
    state: z.enum(['completed', 'failed', 'cancelled']),
    error: RunError.optional(),
    durationMs: z.number(),
  }),
  /** A message delivered to this session's peer: a `send`, or (with `runId`) the reply to a run. */
  z.object({
    ...entryBase,
    kind: z.literal('outbound'),
    channel: z.string(),
    to: z.string(),
    text: z.string(),
    messageId: z.string(),
    runId: z.string().optional(),
  }),
]);
export type TranscriptEntry = z.infer<typeof TranscriptEntry>;
/** An entry as it is appended, before the store numbers it. */
export type TranscriptEntryInput = OmitFromEach<TranscriptEntry, 'seq'>;

export const SessionInfo = z.object({
  id: SessionId,
  channel: z.string(),
  peer: z.string().optional(),
  createdAt: z.number(),
  updatedAt: z.number(),
  /** Transcript entries currently held (after the last reset). */
  entries: z.number(),
  /** The start of the last user or assistant message, for lists. */
  lastText: z.string().optional(),
  activeRunId: z.string().optional(),
  queuedRuns: z.number(),
});
export type SessionInfo = z.infer<typeof SessionInfo>;

export const SessionsListInput = z
  .object({
    channel: z.string().optional(),
    limit: z.number().int().min(1).max(1000).default(100),
  })
  .optional();
export const SessionsListOutput = z.object({ sessions: z.array(SessionInfo), total: z.number() });
export type SessionsListOutput = z.infer<typeof SessionsListOutput>;

export const SessionsHistoryInput = z.object({
  sessionId: SessionId,
  limit: z.number().int().min(1).max(1000).default(100),
  /** Only entries with `seq` below this (page backwards from `entries[0].seq`). */
  before: z.number().int().positive().optional(),
});
export const SessionsHistoryOutput = z.object({
  sessionId: SessionId,
  /** Oldest first. */
  entries: z.array(TranscriptEntry),
  /** More entries exist before `entries[0]`. */
  hasMore: z.boolean(),
  /**
   * The gateway stopped reading the transcript at its per-call bound before
   * the page was full: older entries exist on disk but are not in this page.
   */
  cut: z.literal(true).optional(),
});
export type SessionsHistoryOutput = z.infer<typeof SessionsHistoryOutput>;

export const SessionsResetInput = z.object({ sessionId: SessionId });
export const SessionsResetOutput = z.object({ sessionId: SessionId, cleared: z.number() });
export type SessionsResetOutput = z.infer<typeof SessionsResetOutput>;

export const SessionsDeleteInput = z.object({ sessionId: SessionId });
export const SessionsDeleteOutput = z.object({
  sessionId: SessionId,
  /** Transcript entries deleted with the session. */
  entries: z.number(),
  /** Transcripts of its earlier resets (`sessions/archive/`) deleted with it. */
  archives: z.number(),
});
export type SessionsDeleteOutput = z.infer<typeof SessionsDeleteOutput>;

export const AgentInput = z.object({
  /** Continue this session (created if it does not exist yet); omitted: a new operator session. */
  sessionId: SessionId.optional(),
  message: messageText,
  idempotencyKey: IdempotencyKey,
});
export type AgentInput = z.infer<typeof AgentInput>;

export const AgentStartOutput = z.object({
  runId: z.string(),
  sessionId: SessionId,
  state: AgentRunState,
  /** True when this key was seen before and the earlier run is returned. */
  deduplicated: z.boolean(),
});
export type AgentStartOutput = z.infer<typeof AgentStartOutput>;

export const AgentRunResult = z.object({
  runId: z.string(),
  sessionId: SessionId,
  state: AgentRunState,
  /** The assistant's answer (set once the run completed). */
  text: z.string().optional(),
  error: RunError.optional(),
  toolCalls: z.number(),
  queuedAt: z.number(),
  startedAt: z.number().optional(),
  finishedAt: z.number().optional(),
});
export type AgentRunResult = z.infer<typeof AgentRunResult>;

export const AgentWaitInput = z.object({
  runId: RunId,
  timeoutMs: z.number().int().min(0).max(600_000).default(30_000),
});
export const AgentRunRefInput = z.object({ runId: RunId });

export const AgentEventsInput = z
  .object({
    runId: RunId.optional(),
    sessionId: SessionId.optional(),
    /** Resume after this event id (tRPC fills it from the last tracked id on reconnect). */
    lastEventId: z.string().nullish(),
  })
  .optional();

const runEventBase = { runId: z.string(), sessionId: z.string(), ts: z.number() };

/**
 * What `agent.events` yields (inside tRPC's tracked envelope `{ id, data }`).
 * A subscription for one run ends after its terminal `run.state`.
 */
export const AgentRunEvent = z.discriminatedUnion('type', [
  z.object({
    ...runEventBase,
    type: z.literal('run.state'),
    state: AgentRunState,
    /** Runs ahead of this one in its session, while queued. */
    queuePosition: z.number().optional(),
    text: z.string().optional(),
    error: RunError.optional(),
  }),
  z.object({
    ...runEventBase,
    type: z.literal('assistant.delta'),
    round: z.number().int(),
    text: z.string(),
  }),
  z.object({
    ...runEventBase,
    type: z.literal('tool.started'),
    callId: z.string(),
    tool: z.string(),
    nodeId: z.string(),
    command: z.string(),
    params: z.unknown(),
  }),
  z.object({
    ...runEventBase,
    type: z.literal('tool.finished'),
    callId: z.string(),
    ok: z.boolean(),
    result: z.unknown().optional(),
    error: RunError.optional(),
    durationMs: z.number(),
  }),
  /** A message delivered into the session outside a run (e.g. `send` to `webchat`). */
  z.object({
    ...runEventBase,
    runId: z.string().optional(),
    type: z.literal('session.message'),
    channel: z.string(),
    to: z.string(),
    text: z.string(),
    messageId: z.string(),
  }),
  /** Events between `missedFrom` and this one were evicted before this subscriber saw them. */
  z.object({
    ...runEventBase,
    runId: z.string().optional(),
    type: z.literal('gap'),
    missedFrom: z.string().nullable(),
  }),
]);
export type AgentRunEvent = z.infer<typeof AgentRunEvent>;
export type AgentRunEventInput = OmitFromEach<AgentRunEvent, 'ts'>;
export type AgentRunEventEnvelope = { id: string; data: AgentRunEvent };

export const SendInput = z.object({
  channel: z.string().min(1).max(64),
  /** The peer on that channel: a Telegram chat id, a webhook recipient, a webchat session id. */
  to: z.string().min(1).max(256),
  text: messageText,
  idempotencyKey: IdempotencyKey,
  /** webchat only: create the session `to` names when it does not exist (otherwise NOT_FOUND). */
  createSession: z.boolean().optional(),
});
export type SendInput = z.infer<typeof SendInput>;
export const SendOutput = z.object({
  messageId: z.string(),
  channel: z.string(),
  to: z.string(),
  deduplicated: z.boolean(),
});
export type SendOutput = z.infer<typeof SendOutput>;
