import { join } from 'node:path';
import { type ChannelStatus, GatewayError, type LoopgateConfig } from '@loopgate/protocol';
import type { Logger } from 'pino';
import { ThrottledLine } from '../../log/index.js';
import {
  type Channel,
  type ChannelHost,
  ChannelStatusTracker,
  type DeliveryMeta,
  type ProbeResult,
} from '../channel.js';
import { pause, retryDelayMs } from '../retry-delay.js';
import { TelegramApiError, type TelegramBot, TelegramBotApi } from './bot-api.js';
import { allowlistOf, planUpdates, splitMessage, TelegramOffsetFile } from './update-offset.js';

export type TelegramChannelConfig = NonNullable<LoopgateConfig['channels']['telegram']>;

export type TelegramChannelOptions = {
  config: TelegramChannelConfig;
  /** From LOOPGATE_TELEGRAM_BOT_TOKEN or the config file. */
  botToken: string | undefined;
  stateDir: string;
  host: ChannelHost;
  log: Logger;
};

const BACKOFF = { baseMs: 1_000, maxMs: 30_000 };
const SEND_ATTEMPTS = 3;
/** Longest Retry-After from Telegram a reply will wait for before giving up. */
const MAX_SEND_WAIT_SEC = 30;

/**
 * Telegram via the Bot API: long polling `getUpdates` (no public endpoint
 * needed), replies with `sendMessage`. Only allowlisted chats reach the agent.
 * Network failures are retried with jittered backoff and shown in status; a
 * rejected token stops the channel (retrying cannot fix it).
 */
export class TelegramChannel implements Channel {
  readonly name = 'telegram';
  readonly #options: TelegramChannelOptions;
  readonly #tracker: ChannelStatusTracker;
  readonly #offsets: TelegramOffsetFile;
  readonly #allowed: Set<string>;
  readonly #api: TelegramBotApi | undefined;
  /** Anyone on Telegram can write to the bot: a line per stranger's message would fill the disk. */
  readonly #refusedChats: ThrottledLine<{ chatId: string }>;
  #controller = new AbortController();
  #loop: Promise<void> | undefined;
  #bot: TelegramBot | undefined;
  /** Set when the token was refused: nothing will work until the config changes. */
  #fatal: string | undefined;

  constructor(options: TelegramChannelOptions) {
    this.#options = options;
    this.#tracker = new ChannelStatusTracker('telegram', options.host);
    this.#offsets = new TelegramOffsetFile(
      join(options.stateDir, 'channels', 'telegram-offset.json'),
    );
    this.#allowed = allowlistOf(options.config.allowedChatIds);
    this.#refusedChats = new ThrottledLine((fields) =>
      options.log.warn(
        fields,
        'telegram: message from a chat that is not in channels.telegram.allowedChatIds; ignored',
      ),
    );
    this.#api = options.botToken
      ? new TelegramBotApi(options.config.apiBaseUrl, options.botToken)
      : undefined;
  }

  status(): ChannelStatus {
    return this.#tracker.current;
  }

  async start(): Promise<void> {
    if (!this.#options.config.enabled) {
      this.#tracker.set('disabled', 'channels.telegram.enabled is false');
      return;
    }
    if (!this.#api) {
      this.#tracker.set(
        'error',
        'no bot token: set LOOPGATE_TELEGRAM_BOT_TOKEN or channels.telegram.botToken',
      );
      return;
    }
    this.#controller = new AbortController();
    this.#tracker.set('running', 'connecting to the Bot API');
    this.#loop = this.#poll(this.#api, this.#controller.signal);
  }

  async stop(): Promise<void> {
    this.#controller.abort();
    await this.#loop;
    this.#loop = undefined;
    this.#refusedChats.flush();
    if (this.#tracker.current.state === 'running') this.#tracker.set('stopped');
  }

  async probe(signal: AbortSignal): Promise<ProbeResult> {
    if (!this.#api) return { ok: false, error: 'no bot token' };
    const started = performance.now();
    try {
      await this.#api.getMe(signal);
      return { ok: true, latencyMs: Math.round(performance.now() - started) };
    } catch (error) {
      return {
        ok: false,
        error: error instanceof TelegramApiError ? error.message : 'unreachable',
      };
    }
  }

  deliveryBlocker(): string | undefined {
    if (!this.#options.config.enabled)
      return 'the telegram channel is disabled (channels.telegram.enabled)';
    if (!this.#api)
      return 'the telegram channel has no bot token (LOOPGATE_TELEGRAM_BOT_TOKEN or channels.telegram.botToken)';
    if (this.#fatal) return `the telegram channel is stopped: ${this.#fatal}`;
    if (!this.#loop || this.#controller.signal.aborted)
      return 'the telegram channel is not running';
    return undefined;
  }

  peerProblem(to: string): string | undefined {
    return /^-?\d+$|^@\w+$/.test(to)
      ? undefined
      : `"${to}" is not a Telegram chat id (a number, or @channelname)`;
  }

  async deliver(to: string, text: string, _meta: DeliveryMeta): Promise<{ messageId: string }> {
    const blocker = this.deliveryBlocker();
    const api = this.#api;
    if (blocker || !api)
      throw new GatewayError('UNAVAILABLE', blocker ?? 'the telegram channel is not running');
    const problem = this.peerProblem(to);
    if (problem) throw new GatewayError('BAD_REQUEST', problem);
    let first: string | undefined;
    for (const part of splitMessage(text)) {
      const sent = await this.#sendWithRetry(api, to, part);
      first ??= String(sent);
    }
    return { messageId: first! };
  }

  async #sendWithRetry(api: TelegramBotApi, chatId: string, text: string): Promise<number> {
    const signal = this.#controller.signal;
    for (let attempt = 0; ; attempt++) {
      try {
        return (await api.sendMessage({ chat_id: chatId, text }, signal)).message_id;
      } catch (error) {
        if (!(error instanceof TelegramApiError))
          throw new GatewayError('UNAVAILABLE', 'the telegram channel stopped while sending');
        const retriable = error.status === 0 || error.status === 429 || error.status >= 500;
        const waitSec = error.retryAfterSec ?? retryDelayMs(attempt, BACKOFF) / 1000;
        if (!retriable || attempt + 1 >= SEND_ATTEMPTS || waitSec > MAX_SEND_WAIT_SEC) {
          const code =
            error.status === 429
              ? 'RATE_LIMITED'
              : error.status === 400 || error.status === 403
                ? 'BAD_REQUEST'
                : 'UNAVAILABLE';
          throw new GatewayError(code, error.message, { details: { status: error.status } });
        }
        await pause(waitSec * 1000, signal);
      }
    }
  }

  async #poll(api: TelegramBotApi, signal: AbortSignal): Promise<void> {
    let failures = 0;
    let offset: number | undefined;
    while (!signal.aborted) {
      try {
        if (!this.#bot) {
          this.#bot = await api.getMe(signal);
          offset = await this.#offsets.load(this.#bot.id);
          this.#options.log.info({ bot: this.#bot.username, offset }, 'telegram channel connected');
          this.#tracker.set('running', this.#runningDetail());
        }
        // After a failure, a short poll shows at once whether the API is back (a long one would hide it).
        const timeout = failures > 0 ? 0 : this.#options.config.pollTimeoutSec;
        const updates = await api.getUpdates({ offset, timeout }, signal);
        failures = 0;
        this.#tracker.set('running', this.#runningDetail());
        const plan = planUpdates(updates, offset, this.#allowed);
        if (plan.nextOffset !== undefined && plan.nextOffset !== offset) {
          // Persist first: what is acted on below is never acted on again after a restart.
          await this.#offsets.save(this.#bot.id, plan.nextOffset);
          offset = plan.nextOffset;
        }
        for (const chat of plan.refusedChats) this.#refusedChats.note({ chatId: chat });
        for (const message of plan.messages) {
          this.#options.host.onInbound(this.name, message).catch((error: unknown) => {
            this.#options.log.warn(
              { err: error, chatId: message.peer },
              'telegram: could not start a run for an inbound message',
            );
          });
        }
      } catch (error) {
        if (signal.aborted) break;
        if (error instanceof TelegramApiError && error.isFatal) {
          this.#fatal = `the Bot API rejected the bot token (${error.status} ${error.description}); fix it and restart`;
          this.#tracker.set('error', this.#fatal);
          this.#options.log.error(
            { status: error.status },
            'telegram: bot token rejected; channel stopped',
          );
          return;
        }
        const why =
          error instanceof TelegramApiError
            ? error.status === 409
              ? 'another client is polling this bot (409 Conflict)'
              : error.message
            : 'could not save the update offset';
        const waitMs =
          error instanceof TelegramApiError && error.retryAfterSec
            ? error.retryAfterSec * 1000
            : retryDelayMs(failures, BACKOFF);
        failures++;
        this.#tracker.set('error', `${why}; retrying in ${Math.ceil(waitMs / 1000)} s`);
        this.#options.log.warn({ err: error, failures }, 'telegram: polling failed');
        await pause(waitMs, signal);
      }
    }
  }

  #runningDetail(): string {
    const who = this.#bot?.username ? `@${this.#bot.username}` : 'bot';
    return this.#allowed.size === 0
      ? `${who}: allowedChatIds is empty, every message is ignored`
      : `${who}: polling, ${this.#allowed.size} allowed chat${this.#allowed.size === 1 ? '' : 's'}`;
  }
}
