import * as z from 'zod';
import { BindMode } from './config.js';
import { NodePublicKey, NodeSignature } from './node-identity.js';
import { printableText } from './printable.js';

export const ConnectionRole = z.enum(['operator', 'node', 'pairing']);
export type ConnectionRole = z.infer<typeof ConnectionRole>;

/**
 * What a client sends as tRPC `connectionParams` (the first frame). Credentials
 * travel here and never in the URL. Values are strings because tRPC's
 * connection params are a string map.
 */
export const ConnectionParams = z.object({
  token: z.string().optional(),
  password: z.string().optional(),
  /**
   * `node`: the socket proves a node key (`nodeKey` + `nodeSignature` over the
   * challenge of this socket's upgrade response). With `nodeId` it speaks for
   * that paired node; without, it may only request pairing.
   */
  role: ConnectionRole.optional(),
  nodeKey: NodePublicKey.optional(),
  nodeSignature: NodeSignature.optional(),
  nodeId: z.string().max(64).optional(),
  clientName: printableText(128, 0).optional(),
  clientVersion: printableText(64, 0).optional(),
});
export type ConnectionParams = z.infer<typeof ConnectionParams>;

export const HealthOutput = z.object({
  ok: z.boolean(),
  version: z.string(),
  uptimeMs: z.number(),
  /** Event-loop delay p99 over the last interval, in milliseconds. */
  eventLoopDelayMs: z.number(),
  connections: z.object({ operators: z.number(), nodes: z.number(), total: z.number() }),
  /** How long the check itself took, in milliseconds. */
  checkDurationMs: z.number(),
});
export type HealthOutput = z.infer<typeof HealthOutput>;

export const StatusInput = z.object({ deep: z.boolean().optional() }).optional();

export const ChannelStatus = z.object({
  name: z.string(),
  state: z.enum(['running', 'stopped', 'error', 'disabled']),
  detail: z.string().optional(),
  probe: z
    .object({ ok: z.boolean(), latencyMs: z.number().optional(), error: z.string().optional() })
    .optional(),
});
export type ChannelStatus = z.infer<typeof ChannelStatus>;

export const StatusOutput = z.object({
  version: z.string(),
  pid: z.number(),
  startedAt: z.number(),
  bind: z.object({
    mode: BindMode,
    addresses: z.array(z.string()),
    port: z.number(),
    urls: z.array(z.string()),
  }),
  auth: z.object({
    mode: z.enum(['token', 'password']),
    /** Where the credential came from (never the credential itself). */
    source: z.enum(['config', 'env', 'generated']),
    allowTailscale: z.boolean(),
    /** With allowTailscale: "tailscale identity: verified via whois", or why it is unavailable. */
    tailscale: z.string().optional(),
  }),
  tls: z.object({ enabled: z.boolean(), fingerprint: z.string().optional() }),
  /** Present while the OpenClaw endpoint is on: one more door on the same port. */
  openclaw: z.object({ path: z.string(), urls: z.array(z.string()) }).optional(),
  connections: z.object({ operators: z.number(), nodes: z.number(), total: z.number() }),
  nodes: z.object({ paired: z.number(), online: z.number(), pending: z.number() }),
  sessions: z.object({ total: z.number(), activeRuns: z.number() }),
  channels: z.array(ChannelStatus),
  events: z.object({ lastEventId: z.string().nullable() }),
  deep: z
    .object({
      nodes: z.array(
        z.object({
          nodeId: z.string(),
          name: z.string(),
          ok: z.boolean(),
          latencyMs: z.number().optional(),
          error: z.string().optional(),
        }),
      ),
    })
    .optional(),
});
export type StatusOutput = z.infer<typeof StatusOutput>;

/** The untyped door: any procedure by dotted name with JSON params. */
export const CallInput = z.object({
  method: z
    .string()
    .min(1)
    .max(128)
    .regex(/^[A-Za-z][\w]*(\.[A-Za-z][\w]*)*$/, 'expected a dotted procedure name'),
  params: z.unknown().optional(),
});
export type CallInput = z.infer<typeof CallInput>;

export const EventsInput = z
  .object({
    /** Resume after this event id (tRPC fills it from the last tracked id on reconnect). */
    lastEventId: z.string().nullish(),
    /** Only events whose type starts with one of these prefixes. */
    types: z.array(z.string()).max(32).optional(),
  })
  .optional();

export const LogLevelName = z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal']);
export type LogLevelName = z.infer<typeof LogLevelName>;

/** pino's numeric levels. */
export const LOG_LEVELS: Readonly<Record<LogLevelName, number>> = {
  trace: 10,
  debug: 20,
  info: 30,
  warn: 40,
  error: 50,
  fatal: 60,
};

export const LogsInput = z
  .object({
    /** Lines at or after this time (epoch ms), from the ring and then the log file. */
    since: z.number().int().nonnegative().optional(),
    /** Without `since`: the last N lines (default 100). */
    tail: z.number().int().min(0).max(10_000).optional(),
    /** Lowest level shown (default: everything the gateway logs). */
    level: LogLevelName.optional(),
    /** Keep streaming new lines after the backlog. */
    follow: z.boolean().optional(),
  })
  .optional();
export type LogsInput = z.infer<typeof LogsInput>;

/** One structured log line as the gateway wrote it (already redacted): pino's fields and the call's own. */
export const LogRecord = z.looseObject({
  time: z.number(),
  level: z.number(),
  msg: z.string().optional(),
});
export type LogRecord = z.infer<typeof LogRecord>;
