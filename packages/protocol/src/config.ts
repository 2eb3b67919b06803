import * as z from 'zod';
import { DEFAULT_PORT } from './constants.js';

const port = z
  .number({ error: 'expected integer 0-65535' })
  .int({ error: 'expected integer 0-65535' })
  .min(0, { error: 'expected integer 0-65535' })
  .max(65535, { error: 'expected integer 0-65535' });
const positiveInt = z.number().int().positive();
const ms = z.number().int().min(1);

export const BindMode = z.enum(['loopback', 'lan', 'tailnet', 'custom', 'auto']);
export type BindMode = z.infer<typeof BindMode>;
export const AuthMode = z.enum(['token', 'password']);
export type AuthMode = z.infer<typeof AuthMode>;

/** A TLS pin: `AA:BB:…`, plain hex, or `sha256/<hex|base64>`; a list allows rotation. */
export const TlsFingerprintSetting = z.union([
  z.string().min(1),
  z.array(z.string().min(1)).min(1),
]);

export const SshTunnelConfig = z.strictObject({
  /** `user@host` or an alias from ~/.ssh/config. */
  target: z.string().min(1),
  port: port.optional(),
  identityFile: z.string().optional(),
  /** An ssh_config file to use instead of ~/.ssh/config (`ssh -F`). */
  configFile: z.string().optional(),
  /** Local end of the forward (default: the gateway port, or a free one if allowed). */
  localPort: port.optional(),
  remotePort: port.optional(),
  /** When the local port is taken by something else, pick a free one instead of failing. */
  allowPortFallback: z.boolean().default(false),
});
export type SshTunnelConfig = z.infer<typeof SshTunnelConfig>;

export const RemoteConfig = z.strictObject({
  url: z.string().optional(),
  /** A client credential only: it never enables or changes server auth. */
  token: z.string().optional(),
  password: z.string().optional(),
  /**
   * The same credentials named by file (relative to the config's folder, `~`
   * allowed) or environment variable, so the secret stays out of a config
   * that is often shared; an inline `token`/`password` wins over them.
   */
  tokenFile: z.string().optional(),
  tokenEnv: z.string().optional(),
  passwordFile: z.string().optional(),
  passwordEnv: z.string().optional(),
  tlsFingerprint: TlsFingerprintSetting.optional(),
  ssh: SshTunnelConfig.optional(),
});
export type RemoteConfig = z.infer<typeof RemoteConfig>;

/** A context's name: what `loopgate context use` and `--context` take. */
export const ContextName = z
  .string()
  .regex(/^[A-Za-z0-9][\w.-]{0,63}$/, 'letters, digits, ".", "_" and "-", at most 64');

/**
 * A named gateway for operators (k9s / kubectl style). Secrets are named by
 * file or environment variable, never written inline: the config is often
 * shared or committed, and the CLI edits it (`context use`).
 */
export const GatewayContext = z
  .strictObject({
    url: z.string().optional(),
    ssh: SshTunnelConfig.optional(),
    tlsFingerprint: TlsFingerprintSetting.optional(),
    tokenFile: z.string().optional(),
    tokenEnv: z.string().optional(),
    passwordFile: z.string().optional(),
    passwordEnv: z.string().optional(),
  })
  .refine((c) => c.url !== undefined || c.ssh !== undefined, {
    error: 'a context needs a url or an ssh target',
  });
export type GatewayContext = z.infer<typeof GatewayContext>;

export const LimitsConfig = z.strictObject({
  /** Largest frame accepted before the connection has authenticated. */
  preAuthMaxPayloadBytes: positiveInt.default(64 * 1024),
  /** Largest frame accepted from an authenticated connection (close 1009 beyond). */
  maxPayloadBytes: positiveInt.default(4 * 1024 * 1024),
  /** Outgoing bytes a socket may have queued before it is treated as a slow consumer. */
  maxBufferedBytes: positiveInt.default(8 * 1024 * 1024),
  maxBatchSize: positiveInt.default(64),
  maxSubscriptionsPerConnection: positiveInt.default(64),
  /**
   * Queries and mutations one connection may have running at once: calls
   * that wait (agent.wait, nodes.invoke) would otherwise pile up without end.
   */
  maxRequestsInFlightPerConnection: positiveInt.default(1024),
  maxConnections: positiveInt.default(4096),
  /** Per peer address; IPv6 peers are counted by their /64, as the failed-auth lockout keys them. */
  maxConnectionsPerAddress: positiveInt.default(256),
  /** Unpaired nodes (role `pairing`, no credential) connected at once, from anywhere. */
  maxPairingConnections: positiveInt.default(64),
  /** Unpaired nodes connected at once from one address (IPv6: one /64). */
  maxPairingConnectionsPerAddress: positiveInt.default(16),
  /**
   * Places under `maxConnections` an unpaired node may not take, so operators
   * with a credential still get in while strangers hold sockets open (at most
   * a quarter of `maxConnections` is reserved, whatever this says).
   */
  reservedOperatorConnections: positiveInt.default(64),
  /** A socket that has not authenticated by then is closed. */
  authTimeoutMs: ms.default(5_000),
  /** Protocol-level ping interval; a peer that misses a pong for `pongTimeoutMs` is reaped. */
  pingIntervalMs: ms.default(15_000),
  pongTimeoutMs: ms.default(5_000),
  /** Upgrade requests whose headers have not arrived by then are cut off (slowloris). */
  headersTimeoutMs: ms.default(5_000),
});
export type LimitsConfig = z.infer<typeof LimitsConfig>;

/** Local processes (loopback, no browser Origin): one shared bucket, higher threshold, short lockout. */
export const LoopbackRateLimitConfig = z.strictObject({
  maxFailures: positiveInt.default(30),
  windowMs: ms.default(60_000),
  lockoutMs: ms.default(60_000),
});

export const RateLimitConfig = z.strictObject({
  maxFailures: positiveInt.default(10),
  windowMs: ms.default(60_000),
  lockoutMs: ms.default(5 * 60_000),
  loopback: LoopbackRateLimitConfig.prefault({}),
});

export const AuthConfig = z.strictObject({
  mode: AuthMode.optional(),
  token: z.string().min(16, { error: 'expected at least 16 characters' }).optional(),
  password: z.string().min(8, { error: 'expected at least 8 characters' }).optional(),
  allowTailscale: z.boolean().default(false),
  rateLimit: RateLimitConfig.prefault({}),
  /** Browser origins allowed to open the socket; requests without Origin (CLI, native) are always fine. */
  allowedOrigins: z.array(z.string()).default([]),
  /** Extra Host header names accepted besides loopback and the bound addresses (DNS-rebinding guard). */
  allowedHosts: z.array(z.string()).default([]),
});

export const TlsConfig = z.strictObject({
  enabled: z.boolean().default(false),
  certPath: z.string().optional(),
  keyPath: z.string().optional(),
});

export const NodesConfig = z.strictObject({
  autoApproveLoopback: z.boolean().default(false),
  invokeTimeoutMs: ms.default(30_000),
  pendingTtlMs: ms.default(5 * 60_000),
  maxPending: positiveInt.default(32),
  /** Pending requests from one address: a flood from one peer cannot fill `maxPending`. */
  maxPendingPerAddress: positiveInt.default(4),
  /** A pending request whose node disconnected lasts this long, so a reconnecting node keeps its place. */
  pendingGraceMs: ms.default(5_000),
  idempotencyWindowMs: ms.default(10 * 60_000),
  maxParamsBytes: positiveInt.default(1024 * 1024),
  maxResultBytes: positiveInt.default(4 * 1024 * 1024),
  /**
   * Invocations one node may have unanswered at once: a node that never
   * answers cannot make a writer pile up calls, each held until its timeout.
   */
  maxInFlightPerNode: positiveInt.default(256),
});

export const EventsConfig = z.strictObject({
  /** Durable events kept for `lastEventId` resume. */
  replayBufferSize: positiveInt.default(2_000),
  healthTickMs: ms.default(10_000),
});

/**
 * A second WebSocket endpoint on the gateway port that speaks OpenClaw's
 * gateway protocol (its node hosts, apps and scripts), off unless enabled.
 */
export const OpenClawEndpointConfig = z.strictObject({
  enabled: z.boolean().default(false),
  /** The upgrade path it answers on; every other path stays the tRPC door. */
  path: z
    .string()
    .regex(/^\/[A-Za-z0-9._~-]+(\/[A-Za-z0-9._~-]+)*$/, {
      error: 'expected a path such as /openclaw (not "/", no query)',
    })
    .default('/openclaw'),
  /** How often a `tick` event goes to every socket; OpenClaw clients close after two silent ticks. */
  tickIntervalMs: z.number().int().min(1_000).max(60_000).default(15_000),
});
export type OpenClawEndpointConfig = z.infer<typeof OpenClawEndpointConfig>;

export const GatewayConfig = z.strictObject({
  port: port.default(DEFAULT_PORT),
  bind: BindMode.default('loopback'),
  customBindHost: z.string().optional(),
  mode: z.enum(['local', 'remote']).default('local'),
  auth: AuthConfig.prefault({}),
  tls: TlsConfig.prefault({}),
  remote: RemoteConfig.optional(),
  limits: LimitsConfig.prefault({}),
  nodes: NodesConfig.prefault({}),
  events: EventsConfig.prefault({}),
  openclaw: OpenClawEndpointConfig.prefault({}),
});
export type GatewayConfig = z.infer<typeof GatewayConfig>;

export const OpenAiProviderConfig = z.strictObject({
  baseUrl: z.string().url().default('https://api.openai.com/v1'),
  model: z.string().min(1).default('gpt-4o-mini'),
  /** Prefer LOOPGATE_OPENAI_API_KEY / OPENAI_API_KEY in the environment over the file. */
  apiKey: z.string().optional(),
  timeoutMs: ms.default(60_000),
  maxToolRounds: positiveInt.default(8),
  /** Retries of a request refused with 429 or 5xx (or a failed connection) before any answer; 0 disables. */
  maxRetries: z.number().int().min(0).max(10).default(2),
  systemPrompt: z.string().optional(),
});

export const AgentConfig = z.strictObject({
  provider: z.enum(['local', 'openai']).default('local'),
  openai: OpenAiProviderConfig.prefault({}),
  /** Transcript entries of earlier turns replayed to the model as context. */
  maxHistoryEntries: positiveInt.default(200),
  /** Runs waiting behind the active one in a session before new ones are refused. */
  maxQueuedPerSession: positiveInt.default(16),
});

export const TelegramChannelConfig = z.strictObject({
  enabled: z.boolean().default(true),
  /** Prefer LOOPGATE_TELEGRAM_BOT_TOKEN in the environment over the file. */
  botToken: z.string().optional(),
  apiBaseUrl: z.string().url().default('https://api.telegram.org'),
  /** Chat ids allowed to talk to the agent; empty means nobody. */
  allowedChatIds: z.array(z.union([z.number().int(), z.string()])).default([]),
  pollTimeoutSec: z.number().int().min(0).max(50).default(25),
});

export const WebhookChannelConfig = z.strictObject({
  enabled: z.boolean().default(true),
  /** Inbound POSTs are accepted on the gateway port under this path. */
  path: z.string().startsWith('/').default('/hooks/inbound'),
  /** HMAC-SHA256 secret for the `x-loopgate-signature` header, both directions. */
  secret: z.string().min(16).optional(),
  outboundUrl: z.string().url().optional(),
  maxRetries: z.number().int().min(0).max(10).default(3),
  /**
   * Sessions the webhook channel may hold, one per `from`: whoever holds the
   * secret names any sender, and each new one is a transcript on disk. Past
   * it a new sender is refused (429, LIMIT_EXCEEDED); known senders go on.
   */
  maxSessions: positiveInt.default(1_000),
});

export const ChannelsConfig = z.strictObject({
  webchat: z.strictObject({ enabled: z.boolean().default(true) }).default({ enabled: true }),
  webhook: WebhookChannelConfig.optional(),
  telegram: TelegramChannelConfig.optional(),
});

export const LoggingConfig = z.strictObject({
  level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
  /** Log file; default `<stateDir>/logs/gateway.log`. */
  file: z.string().optional(),
  stderr: z.boolean().default(false),
});

export const LoopgateConfig = z
  .strictObject({
    gateway: GatewayConfig.prefault({}),
    agent: AgentConfig.prefault({}),
    channels: ChannelsConfig.prefault({}),
    logging: LoggingConfig.prefault({}),
    /** Named gateways for client commands (`--context`, `loopgate context use`). */
    contexts: z.record(ContextName, GatewayContext).optional(),
    /** The context client commands use when none is named; must be one of `contexts`. */
    currentContext: z.string().optional(),
  })
  .refine(
    (c) => c.currentContext === undefined || Object.hasOwn(c.contexts ?? {}, c.currentContext),
    {
      error: 'currentContext must name one of contexts',
      path: ['currentContext'],
    },
  );
export type LoopgateConfig = z.infer<typeof LoopgateConfig>;
/** What a config file or a programmatic caller may give: every key optional. */
export type LoopgateConfigInput = z.input<typeof LoopgateConfig>;

/**
 * Renders zod issues as `key.path: reason, got <value>` lines — what an operator
 * needs to fix a config file, and nothing else (no stack, no internals).
 */
export function formatConfigIssues(error: z.ZodError, input: unknown): string[] {
  return error.issues.map((issue) => {
    const path = issue.path.map(String).join('.') || '(root)';
    if (issue.code === 'unrecognized_keys') {
      const prefix = path === '(root)' ? '' : `${path}.`;
      return `${issue.keys.map((k) => prefix + k).join(', ')}: unknown key`;
    }
    const received = valueAt(input, issue.path);
    const secret = SECRET_KEYS.has(String(issue.path.at(-1)));
    const got =
      received === undefined
        ? 'nothing'
        : secret
          ? `a value of ${typeof received === 'string' ? `${received.length} characters` : typeof received} (not shown)`
          : JSON.stringify(received);
    return `${path}: ${issue.message}, got ${got}`;
  });
}

/** Keys whose values an error message must never repeat. */
const SECRET_KEYS = new Set(['token', 'password', 'apiKey', 'botToken', 'secret']);

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let cur = root;
  for (const key of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[key];
  }
  return cur;
}
