import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  type AgentRunResult,
  type ChannelStatus,
  GatewayError,
  type GatewayEventInput,
  isGatewayError,
  type LoopgateConfig,
  type SendInput,
  type SendOutput,
} from '@loopgate/protocol';
import type { Logger } from 'pino';
import type { AgentRuntime } from '../agent/index.js';
import { IdempotencyCache } from '../idempotency/index.js';
import type { PeerSessionCap, SessionStore } from '../sessions/index.js';
import type { Channel, ChannelHost, InboundAccepted, InboundMessage } from './channel.js';
import { TelegramChannel } from './telegram/telegram-channel.js';
import { WebchatChannel } from './webchat-channel.js';
import { WebhookChannel } from './webhook/webhook-channel.js';

export type ChannelManagerOptions = {
  config: LoopgateConfig;
  stateDir: string;
  events: { emit(event: GatewayEventInput): unknown };
  log: Logger;
  sessions: SessionStore;
  agent: AgentRuntime;
  /** Where secrets are read from (LOOPGATE_TELEGRAM_BOT_TOKEN). */
  env?: NodeJS.ProcessEnv;
  /** First retry delay of outbound webhook POSTs (tests shorten it). */
  webhookRetryBaseMs?: number;
};

const PROBE_TIMEOUT_MS = 5_000;
const DELIVERY_GRACE_MS = 5_000;
const CHANNEL_NAMES = ['webchat', 'telegram', 'webhook'] as const;

/**
 * Every channel, and the flow between them and the agent: an inbound message
 * goes to its peer's session, starts a run (queued behind any run already
 * going in that session), and the run's answer goes back to the peer on the
 * same channel, recorded in the transcript. `send` delivers operator
 * messages. A channel that fails to configure or start is reported in status
 * and leaves the others running.
 */
export class ChannelManager {
  readonly #options: ChannelManagerOptions;
  readonly #channels = new Map<string, Channel>();
  readonly #idempotency: IdempotencyCache<SendOutput>;
  readonly #log: Logger;
  #closing = false;
  /** Replies being delivered and recorded right now. */
  readonly #deliveries = new Set<Promise<void>>();

  constructor(options: ChannelManagerOptions) {
    this.#options = options;
    this.#log = options.log;
    this.#idempotency = new IdempotencyCache({
      windowMs: options.config.gateway.nodes.idempotencyWindowMs,
    });
    const env = options.env ?? process.env;
    const host: ChannelHost = {
      onInbound: (channel, message) => this.#onInbound(channel, message),
      onStatus: (status) => {
        options.events.emit({
          type: 'channel.status',
          channel: status.name,
          state: status.state,
          ...(status.detail ? { detail: status.detail } : {}),
        });
        const level = status.state === 'error' ? 'warn' : 'info';
        this.#log[level](
          { channel: status.name, state: status.state, detail: status.detail },
          'channel state changed',
        );
      },
    };
    const { channels } = options.config;
    this.#channels.set(
      'webchat',
      new WebchatChannel({
        enabled: channels.webchat.enabled,
        host,
        publish: (message) => options.agent.publishSessionMessage(message),
        watchers: () => options.agent.hub.listenerCount,
      }),
    );
    if (channels.telegram) {
      this.#channels.set(
        'telegram',
        new TelegramChannel({
          config: channels.telegram,
          botToken: env.LOOPGATE_TELEGRAM_BOT_TOKEN || channels.telegram.botToken,
          stateDir: options.stateDir,
          host,
          log: options.log.child({ channel: 'telegram' }),
        }),
      );
    }
    if (channels.webhook) {
      this.#channels.set(
        'webhook',
        new WebhookChannel({
          config: channels.webhook,
          host,
          log: options.log.child({ channel: 'webhook' }),
          ...(options.webhookRetryBaseMs !== undefined
            ? { retryBaseMs: options.webhookRetryBaseMs }
            : {}),
        }),
      );
    }
  }

  /** Starts every configured channel; failures are reported in status, not thrown. */
  async open(): Promise<void> {
    this.#closing = false;
    await Promise.all(
      [...this.#channels.values()].map(async (channel) => {
        try {
          await channel.start();
        } catch (error) {
          this.#log.error({ err: error, channel: channel.name }, 'channel failed to start');
        }
      }),
    );
  }

  /** Stops polling and receiving; waits for each channel to settle (offsets written). */
  async close(): Promise<void> {
    this.#closing = true;
    // Replies already on their way are finished (and recorded) before the channels stop, briefly.
    const grace = new Promise((resolve) => setTimeout(resolve, DELIVERY_GRACE_MS).unref());
    await Promise.race([Promise.allSettled([...this.#deliveries]), grace]);
    // Each channel logs its own stop failure; shutdown goes on for the others.
    await Promise.all([...this.#channels.values()].map((c) => c.stop().catch(() => {})));
  }

  /** Every channel, configured or not, for `status`. */
  statusSummary(): ChannelStatus[] {
    return CHANNEL_NAMES.map(
      (name) =>
        this.#channels.get(name)?.status() ?? {
          name,
          state: 'disabled' as const,
          detail: `not configured (channels.${name})`,
        },
    );
  }

  /** `status --deep`: the same list, with a live probe of each running channel. */
  async status(options: { deep: boolean } = { deep: false }): Promise<ChannelStatus[]> {
    const summary = this.statusSummary();
    if (!options.deep) return summary;
    return Promise.all(
      summary.map(async (status) => {
        const channel = this.#channels.get(status.name);
        if (!channel || status.state === 'disabled') return status;
        const signal = AbortSignal.timeout(PROBE_TIMEOUT_MS);
        const probe = await channel
          .probe(signal)
          .catch(() => ({ ok: false, error: 'probe failed' }));
        return { ...status, probe };
      }),
    );
  }

  /**
   * For the gateway's HTTP server: answers requests for the webhook path and
   * returns true, or returns false (untouched) for anything else.
   */
  handleHttpRequest(req: IncomingMessage, res: ServerResponse): boolean {
    const webhook = this.#channels.get('webhook');
    if (!(webhook instanceof WebhookChannel)) return false;
    const pathname = new URL(req.url ?? '/', 'http://gateway').pathname;
    if (pathname !== webhook.path) return false;
    webhook.handleRequest(req, res).catch((error: unknown) => {
      this.#log.error({ err: error }, 'webhook request failed');
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
      res.end('{"ok":false,"error":"internal error"}');
    });
    return true;
  }

  /** Delivers an operator's message; the same idempotency key never sends twice. */
  async send(input: SendInput): Promise<SendOutput> {
    const channel = this.#channels.get(input.channel);
    if (!channel) {
      const known = (CHANNEL_NAMES as readonly string[]).includes(input.channel);
      throw known
        ? new GatewayError(
            'UNAVAILABLE',
            `the ${input.channel} channel is not configured (add channels.${input.channel} to the config)`,
          )
        : new GatewayError(
            'BAD_REQUEST',
            `unknown channel "${input.channel}" (channels: ${CHANNEL_NAMES.join(', ')})`,
          );
    }
    const request = {
      channel: input.channel,
      to: input.to,
      text: input.text,
      createSession: input.createSession ?? false,
    };
    const { value, deduplicated } = this.#idempotency.run(input.idempotencyKey, request, () =>
      this.#deliver(channel, input),
    );
    return { ...(await value), deduplicated };
  }

  async #deliver(channel: Channel, input: SendInput): Promise<SendOutput> {
    if (this.#closing) throw new GatewayError('UNAVAILABLE', 'the gateway is shutting down');
    // Ask the channel first, so a send that cannot happen leaves no empty session behind.
    const blocker = channel.deliveryBlocker();
    if (blocker) throw new GatewayError('UNAVAILABLE', blocker);
    const problem = channel.peerProblem(input.to);
    if (problem) throw new GatewayError('BAD_REQUEST', problem);
    const session =
      channel.name === 'webchat'
        ? await this.#webchatSession(input)
        : await this.#options.sessions.forPeer(channel.name, input.to);
    const sessionId = session.id;
    const messageId = `msg-${randomBytes(8).toString('hex')}`;
    const delivered = await channel.deliver(input.to, input.text, { messageId, sessionId });
    await this.#recordOutbound({
      channel: channel.name,
      to: input.to,
      text: input.text,
      messageId: delivered.messageId,
      sessionId,
    });
    return {
      messageId: delivered.messageId,
      channel: channel.name,
      to: input.to,
      deduplicated: false,
    };
  }

  /** A mistyped session id must not silently open a new, unwatched conversation. */
  async #webchatSession(input: SendInput) {
    const sessions = this.#options.sessions;
    if (input.createSession) return sessions.ensure(input.to, { channel: 'webchat' });
    const existing = sessions.get(input.to);
    if (existing) return existing;
    throw new GatewayError(
      'NOT_FOUND',
      `no session "${input.to}": list them with loopgate sessions list, or pass --create-session to start it`,
      { details: { sessionId: input.to } },
    );
  }

  async #onInbound(channelName: string, message: InboundMessage): Promise<InboundAccepted> {
    if (this.#closing) throw new GatewayError('UNAVAILABLE', 'the gateway is shutting down');
    const session = await this.#options.sessions.forPeer(
      channelName,
      message.peer,
      this.#peerSessionCap(channelName),
    );
    let started: Awaited<ReturnType<AgentRuntime['start']>>;
    try {
      started = await this.#options.agent.start({
        sessionId: session.id,
        message: message.text,
        idempotencyKey: `${channelName}:${message.messageId}`,
        source: { channel: channelName, peer: message.peer, messageId: message.messageId },
      });
    } catch (error) {
      // The peer would otherwise wait for an answer that never comes.
      if (isGatewayError(error, 'LIMIT_EXCEEDED'))
        this.#tellBusy(channelName, message.peer, session.id);
      throw error;
    }
    if (!started.deduplicated) {
      this.#options.events.emit({
        type: 'channel.message',
        channel: channelName,
        direction: 'inbound',
        peer: message.peer,
        sessionId: session.id,
        messageId: message.messageId,
      });
      void this.#replyWhenDone(channelName, message.peer, started.runId, session.id);
    }
    return { sessionId: session.id, runId: started.runId, deduplicated: started.deduplicated };
  }

  /**
   * Only the webhook's senders are unbounded (any `from` the secret's holder
   * writes); Telegram admits the listed chats only.
   */
  #peerSessionCap(channelName: string): PeerSessionCap | undefined {
    const webhook = this.#options.config.channels.webhook;
    if (channelName !== 'webhook' || !webhook) return undefined;
    return { max: webhook.maxSessions, setting: 'channels.webhook.maxSessions' };
  }

  #tellBusy(channelName: string, peer: string, sessionId: string): void {
    const channel = this.#channels.get(channelName);
    if (!channel || channel.deliveryBlocker()) return;
    const text =
      'Still working on your earlier messages; this one was not taken. Send it again in a moment.';
    channel
      .deliver(peer, text, { messageId: `msg-${randomBytes(8).toString('hex')}`, sessionId })
      .catch((error: unknown) => {
        this.#log.warn(
          { err: error, channel: channelName },
          'could not tell a peer the session is busy',
        );
      });
  }

  /** Sends the run's answer (or what went wrong) back to the peer who asked. */
  async #replyWhenDone(
    channelName: string,
    peer: string,
    runId: string,
    sessionId: string,
  ): Promise<void> {
    const result = await this.#options.agent.whenFinished(runId);
    const channel = this.#channels.get(channelName);
    if (!channel || this.#closing) return;
    const delivery = this.#deliverReply(channel, peer, replyText(result), runId, sessionId);
    this.#deliveries.add(delivery);
    await delivery;
    this.#deliveries.delete(delivery);
  }

  async #deliverReply(
    channel: Channel,
    peer: string,
    text: string,
    runId: string,
    sessionId: string,
  ): Promise<void> {
    const channelName = channel.name;
    try {
      const messageId = `msg-${randomBytes(8).toString('hex')}`;
      const delivered = await channel.deliver(peer, text, { messageId, sessionId, runId });
      await this.#recordOutbound({
        channel: channelName,
        to: peer,
        text,
        messageId: delivered.messageId,
        sessionId,
        runId,
      });
    } catch (error) {
      this.#log.warn({ err: error, channel: channelName, runId }, 'could not deliver the reply');
    }
  }

  async #recordOutbound(message: {
    channel: string;
    to: string;
    text: string;
    messageId: string;
    sessionId: string;
    runId?: string;
  }): Promise<void> {
    const { sessionId, ...rest } = message;
    try {
      await this.#options.sessions.append(
        sessionId,
        [{ kind: 'outbound', ts: Date.now(), ...rest }],
        { sync: true },
      );
    } catch (error) {
      this.#log.error(
        { err: error, sessionId },
        'could not record an outbound message in the transcript',
      );
    }
    this.#options.events.emit({
      type: 'channel.message',
      channel: message.channel,
      direction: 'outbound',
      peer: message.to,
      sessionId,
      messageId: message.messageId,
    });
  }
}

/** What the peer reads: the answer, or a plain account of why there is none. */
export function replyText(result: AgentRunResult): string {
  switch (result.state) {
    case 'completed':
      return result.text?.trim() ? result.text : '(the agent gave no answer)';
    case 'cancelled':
      return `(cancelled: ${result.error?.message ?? 'by an operator'})`;
    default:
      return `Sorry, that failed: ${result.error?.message ?? 'unknown error'} (${result.error?.code ?? 'INTERNAL'})`;
  }
}
