import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  type ChannelStatus,
  GatewayError,
  isGatewayError,
  type LoopgateConfig,
  MAX_MESSAGE_CHARS,
  printableText,
} from '@loopgate/protocol';
import type { Logger } from 'pino';
import * as z from 'zod';
import { ThrottledLine } from '../../log/index.js';
import {
  type Channel,
  type ChannelHost,
  ChannelStatusTracker,
  type DeliveryMeta,
  type ProbeResult,
} from '../channel.js';
import { pause, retryDelayMs } from '../retry-delay.js';
import { WebhookReplayGuard } from './replay-guard.js';
import { SIGNATURE_HEADER, signWebhook, TIMESTAMP_HEADER, verifyWebhook } from './signature.js';

export type WebhookChannelConfig = NonNullable<LoopgateConfig['channels']['webhook']>;

export type WebhookChannelOptions = {
  config: WebhookChannelConfig;
  host: ChannelHost;
  log: Logger;
  /** First retry delay of an outbound POST (doubles, jittered, up to 10 s). */
  retryBaseMs?: number;
  now?: () => number;
};

/** What a sender POSTs. `id` makes a retried POST harmless: the same id is only run once. */
export const WebhookInbound = z.object({
  from: printableText(256),
  text: z.string().min(1).max(MAX_MESSAGE_CHARS),
  id: z.string().min(1).max(200).optional(),
});

const MAX_BODY_BYTES = 64 * 1024;
const ATTEMPT_TIMEOUT_MS = 10_000;
const MAX_RETRY_AFTER_MS = 30_000;
export const MESSAGE_ID_HEADER = 'x-loopgate-message-id';

/**
 * Generic HTTP in and out. Inbound: `POST <path>` on the gateway's own port
 * with a JSON `{ from, text, id? }` signed with the shared secret (HMAC over
 * timestamp + body); answered 202 with the session and run at once — the
 * agent's reply goes out later. Outbound: a signed JSON POST to `outboundUrl`,
 * retried with jittered backoff on network errors, 429 and 5xx, carrying the
 * same message id on every attempt so the receiver can drop duplicates.
 */
export class WebhookChannel implements Channel {
  readonly name = 'webhook';
  readonly #options: WebhookChannelOptions;
  readonly #tracker: ChannelStatusTracker;
  readonly #now: () => number;
  readonly #replays = new WebhookReplayGuard();
  /** Anyone who can reach the port can post unsigned requests: a line per request would fill the disk. */
  readonly #refusals: ThrottledLine<{ remoteAddress: string | undefined; reason: string }>;
  #controller = new AbortController();

  constructor(options: WebhookChannelOptions) {
    this.#options = options;
    this.#refusals = new ThrottledLine((fields) =>
      options.log.warn(fields, 'webhook: refused an unauthenticated request'),
    );
    this.#tracker = new ChannelStatusTracker('webhook', options.host);
    this.#now = options.now ?? Date.now;
  }

  status(): ChannelStatus {
    return this.#tracker.current;
  }

  get path(): string {
    return this.#options.config.path;
  }

  async start(): Promise<void> {
    const { config } = this.#options;
    if (!config.enabled) {
      this.#tracker.set('disabled', 'channels.webhook.enabled is false');
      return;
    }
    if (!config.secret) {
      this.#tracker.set(
        'error',
        'channels.webhook.secret is not set (at least 16 characters; it signs both directions)',
      );
      return;
    }
    this.#controller = new AbortController();
    const out = config.outboundUrl
      ? `replies to ${displayUrl(config.outboundUrl)}`
      : 'inbound only (no outboundUrl)';
    this.#tracker.set('running', `POST ${config.path}; ${out}`);
  }

  async stop(): Promise<void> {
    this.#controller.abort();
    this.#refusals.flush();
    if (this.#tracker.current.state === 'running') this.#tracker.set('stopped');
  }

  async probe(): Promise<ProbeResult> {
    // No live request: a probe POST would reach the receiver as a message.
    const state = this.#tracker.current;
    return state.state === 'running'
      ? { ok: true }
      : { ok: false, error: state.detail ?? state.state };
  }

  /** Answers an inbound POST under `path` (the gateway's HTTP server calls this for non-upgrade requests). */
  async handleRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const reply = (
      status: number,
      body: Record<string, unknown>,
      headers: Record<string, string> = {},
    ) => {
      if (res.headersSent) return;
      const text = JSON.stringify(body);
      res.writeHead(status, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(text),
        ...headers,
      });
      res.end(text);
    };
    if (req.method !== 'POST') {
      reply(405, { ok: false, error: 'use POST' }, { allow: 'POST' });
      return;
    }
    const state = this.#tracker.current;
    const secret = this.#options.config.secret;
    if (state.state !== 'running' || !secret) {
      req.resume();
      reply(503, {
        ok: false,
        error: `the webhook channel is not running (${state.detail ?? state.state})`,
      });
      return;
    }
    const body = await readLimited(req, MAX_BODY_BYTES);
    if (body === undefined) {
      reply(
        413,
        { ok: false, error: `body larger than ${MAX_BODY_BYTES} bytes` },
        { connection: 'close' },
      );
      req.destroy();
      return;
    }
    const nowMs = this.#now();
    const check = verifyWebhook(
      secret,
      {
        signature: headerValue(req, SIGNATURE_HEADER),
        timestamp: headerValue(req, TIMESTAMP_HEADER),
      },
      body,
      Math.floor(nowMs / 1000),
    );
    if (!check.ok) {
      this.#refusals.note({ remoteAddress: req.socket.remoteAddress, reason: check.reason });
      reply(401, { ok: false, error: check.reason });
      return;
    }
    const inbound = parseInbound(body);
    if (!inbound.ok) {
      reply(400, { ok: false, error: inbound.error });
      return;
    }
    const { from, text, id } = inbound.message;
    const outcome = this.#replays.admit(check.signature, check.timestampSec, nowMs, () =>
      this.#options.host.onInbound(this.name, {
        peer: from,
        text,
        messageId: id ?? `wh-${randomBytes(8).toString('hex')}`,
      }),
    );
    if (outcome.kind === 'full') {
      reply(
        503,
        { ok: false, error: 'too many signed requests inside the replay window; retry later' },
        { 'retry-after': String(outcome.retryAfterSec) },
      );
      return;
    }
    try {
      const accepted = await outcome.accepted;
      // A replay is answered like a retried `id`: the first run, not a new one.
      reply(202, {
        ok: true,
        ...accepted,
        ...(outcome.kind === 'replayed' ? { deduplicated: true } : {}),
      });
    } catch (error) {
      const refusal = refusalOf(error);
      reply(refusal.status, refusal.body);
    }
  }

  deliveryBlocker(): string | undefined {
    const state = this.#tracker.current;
    if (state.state !== 'running' || !this.#options.config.secret)
      return `the webhook channel is not running (${state.detail ?? state.state})`;
    if (!this.#options.config.outboundUrl)
      return 'channels.webhook.outboundUrl is not set: the webhook channel can only receive';
    return undefined;
  }

  peerProblem(): string | undefined {
    return undefined; // any recipient name: the receiver decides what it means
  }

  async deliver(to: string, text: string, meta: DeliveryMeta): Promise<{ messageId: string }> {
    const { config } = this.#options;
    const blocker = this.deliveryBlocker();
    if (blocker || !config.secret || !config.outboundUrl)
      throw new GatewayError('UNAVAILABLE', blocker ?? 'the webhook channel is not running');
    const body = JSON.stringify({
      id: meta.messageId,
      to,
      text,
      sessionId: meta.sessionId,
      ...(meta.runId ? { runId: meta.runId } : {}),
    });
    const where = displayUrl(config.outboundUrl);
    const signal = this.#controller.signal;
    let lastProblem = '';
    let retryAfterMs: number | undefined;
    let attempts = 0;
    for (let attempt = 0; attempt <= config.maxRetries; attempt++) {
      if (attempt > 0) {
        const backoff = retryDelayMs(attempt - 1, {
          baseMs: this.#options.retryBaseMs ?? 500,
          maxMs: 10_000,
        });
        await pause(retryAfterMs ?? backoff, signal);
      }
      if (signal.aborted)
        throw new GatewayError(
          'UNAVAILABLE',
          'the webhook channel stopped before the message was delivered',
        );
      const timestamp = Math.floor(this.#now() / 1000);
      attempts++;
      try {
        const response = await fetch(config.outboundUrl, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            [SIGNATURE_HEADER]: signWebhook(config.secret, timestamp, body),
            [TIMESTAMP_HEADER]: String(timestamp),
            [MESSAGE_ID_HEADER]: meta.messageId,
          },
          body,
          signal: AbortSignal.any([signal, AbortSignal.timeout(ATTEMPT_TIMEOUT_MS)]),
        });
        // Only frees the connection: the status decides the outcome, the body is never read.
        await response.body?.cancel().catch(() => {});
        if (response.ok) return { messageId: meta.messageId };
        lastProblem = `HTTP ${response.status}`;
        const seconds = Number(response.headers.get('retry-after'));
        retryAfterMs =
          response.status === 429 && seconds > 0
            ? Math.min(seconds * 1000, MAX_RETRY_AFTER_MS)
            : undefined;
        const retriable =
          response.status === 408 || response.status === 429 || response.status >= 500;
        if (!retriable) break;
      } catch (error) {
        if (signal.aborted)
          throw new GatewayError(
            'UNAVAILABLE',
            'the webhook channel stopped before the message was delivered',
          );
        const code = (error as { cause?: { code?: string } }).cause?.code;
        lastProblem =
          (error as Error).name === 'TimeoutError'
            ? `no answer within ${ATTEMPT_TIMEOUT_MS} ms`
            : (code ?? 'network error');
        retryAfterMs = undefined;
      }
    }
    throw new GatewayError('UNAVAILABLE', `webhook delivery to ${where} failed: ${lastProblem}`, {
      details: { attempts },
    });
  }
}

/** HTTP statuses of the gateway's refusals to start a run; anything else is a 500. */
const STATUS_OF_CODE: Partial<Record<string, number>> = {
  LIMIT_EXCEEDED: 429,
  UNAVAILABLE: 503,
  BAD_REQUEST: 409,
  CONFLICT: 409,
};

/** A run the gateway would not start, as its sender reads it: a status, the typed code, why. */
function refusalOf(error: unknown): { status: number; body: Record<string, unknown> } {
  const code = isGatewayError(error) ? error.code : 'INTERNAL';
  const message = isGatewayError(error) ? error.message : 'internal error';
  return { status: STATUS_OF_CODE[code] ?? 500, body: { ok: false, code, error: message } };
}

/** Origin and path only: a URL's query or user info may hold a credential. */
function displayUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.origin}${u.pathname}`;
  } catch {
    // Only for display in status and logs: a URL that does not parse is shown as such.
    return '(invalid URL)';
  }
}

/** `{ from, text, id? }` from a verified body, or what was wrong with it. */
function parseInbound(
  body: string,
): { ok: true; message: z.infer<typeof WebhookInbound> } | { ok: false; error: string } {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return { ok: false, error: 'body is not JSON' };
  }
  const parsed = WebhookInbound.safeParse(json);
  if (parsed.success) return { ok: true, message: parsed.data };
  const issues = parsed.error.issues
    .map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`)
    .join('; ');
  return { ok: false, error: `expected { from, text, id? }: ${issues}` };
}

function headerValue(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** The body as text, or undefined once it exceeds `max` bytes (reading stops there). */
async function readLimited(req: IncomingMessage, max: number): Promise<string | undefined> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > max) return undefined;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > max) return undefined;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}
