import * as z from 'zod';
import { OperatorScope } from './access.js';
import { HealthOutput } from './operator.js';

const base = {
  ts: z.number(),
  /**
   * Set on a live event: sent to whoever is subscribed when it happens, never
   * logged nor replayed (health ticks, gap markers, pairing requests and their
   * lapses). It has no id of its own: its tracked id on the wire is the last
   * durable event's, the point a resume continues from.
   */
  live: z.literal(true).optional(),
};

/**
 * The gateway's event stream. Durable events get a sequence id and are
 * replayed to a client resuming with `lastEventId`; live ones (`live: true`,
 * e.g. `health.tick`: a fresh one is worth more than a missed one) are not.
 */
export const GatewayEvent = z.discriminatedUnion('type', [
  z.object({ ...base, type: z.literal('gateway.started'), version: z.string() }),
  z.object({ ...base, type: z.literal('gateway.stopping'), reason: z.string() }),
  z.object({
    ...base,
    type: z.literal('connection.opened'),
    connectionId: z.string(),
    role: z.string(),
    clientName: z.string().optional(),
    remoteAddress: z.string(),
  }),
  z.object({
    ...base,
    type: z.literal('connection.closed'),
    connectionId: z.string(),
    role: z.string(),
    code: z.number(),
  }),
  z.object({ ...base, type: z.literal('health.tick'), health: HealthOutput }),
  /** The subscriber fell behind and events were dropped; refetch state. */
  z.object({ ...base, type: z.literal('events.gap'), missedFrom: z.string().nullable() }),
  z.object({
    ...base,
    type: z.literal('node.pair.requested'),
    requestId: z.string(),
    pairingCode: z.string(),
    name: z.string(),
    platform: z.string(),
    commands: z.array(z.string()),
  }),
  z.object({
    ...base,
    type: z.literal('node.pair.resolved'),
    requestId: z.string(),
    /** `withdrawn`: the node that asked disconnected and did not come back. */
    decision: z.enum(['approved', 'rejected', 'expired', 'withdrawn']),
    nodeId: z.string().optional(),
  }),
  z.object({
    ...base,
    type: z.literal('node.online'),
    nodeId: z.string(),
    name: z.string(),
    commands: z.array(z.string()),
  }),
  z.object({
    ...base,
    type: z.literal('node.offline'),
    nodeId: z.string(),
    name: z.string(),
    reason: z.string(),
  }),
  z.object({ ...base, type: z.literal('node.removed'), nodeId: z.string() }),
  z.object({
    ...base,
    type: z.literal('node.invoke.finished'),
    invocationId: z.string(),
    nodeId: z.string(),
    command: z.string(),
    ok: z.boolean(),
    durationMs: z.number(),
    errorCode: z.string().optional(),
  }),
  z.object({
    ...base,
    type: z.literal('session.created'),
    sessionId: z.string(),
    channel: z.string(),
    peer: z.string().optional(),
  }),
  z.object({ ...base, type: z.literal('session.reset'), sessionId: z.string() }),
  /** Its transcript is gone; a channel peer writing again gets a fresh session. */
  z.object({
    ...base,
    type: z.literal('session.deleted'),
    sessionId: z.string(),
    channel: z.string(),
    peer: z.string().optional(),
  }),
  z.object({
    ...base,
    type: z.literal('agent.run'),
    runId: z.string(),
    sessionId: z.string(),
    state: z.enum(['queued', 'running', 'completed', 'failed', 'cancelled']),
    error: z.string().optional(),
  }),
  z.object({
    ...base,
    type: z.literal('channel.message'),
    channel: z.string(),
    direction: z.enum(['inbound', 'outbound']),
    peer: z.string(),
    sessionId: z.string().optional(),
    messageId: z.string().optional(),
  }),
  z.object({
    ...base,
    type: z.literal('channel.status'),
    channel: z.string(),
    state: z.string(),
    detail: z.string().optional(),
  }),
  z.object({ ...base, type: z.literal('auth.rotated') }),
  /** An operator token was created or revoked (never its secret). */
  z.object({
    ...base,
    type: z.literal('auth.token'),
    action: z.enum(['created', 'revoked']),
    name: z.string(),
    scope: OperatorScope,
  }),
]);
export type GatewayEvent = z.infer<typeof GatewayEvent>;
export type GatewayEventType = GatewayEvent['type'];
/** An event without its timestamp (nor the live mark, which the bus sets), as emitters build it. */
export type GatewayEventInput = OmitFromEach<GatewayEvent, 'ts' | 'live'>;

/**
 * `Omit<T, K>` applied to each member of a union, so a discriminated union
 * stays one (a plain `Omit` would collapse it to the keys all members share).
 */
export type OmitFromEach<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** Event types that are not kept for replay. */
export const EPHEMERAL_EVENT_TYPES: ReadonlySet<GatewayEventType> = new Set([
  'health.tick',
  'events.gap',
]);

/** What the `events` subscription yields (inside tRPC's tracked envelope `{ id, data }`). */
export type GatewayEventEnvelope = { id: string; data: GatewayEvent };

/**
 * One line of `loopgate events --json`: the event and its id, the one
 * `--since` resumes after. A live event (`live: true`) has no id of its own,
 * so its line says `id: null` rather than repeat the durable id before it.
 */
export type EventsJsonLine = GatewayEvent & { id: string | null };
