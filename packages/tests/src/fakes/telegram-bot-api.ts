import type { ServerResponse } from 'node:http';
import { listenLocal, readBody, sendJson, waitForItem } from './http-server.js';

type Chat = {
  id: number;
  type: 'private' | 'group' | 'supergroup';
  username?: string;
  first_name?: string;
  title?: string;
};
type Message = {
  message_id: number;
  date: number;
  chat: Chat;
  from?: { id: number; is_bot: boolean; first_name: string; username?: string };
  text?: string;
};
type Update = { update_id: number; message?: Message };

export type SentMessage = {
  chatId: string;
  text: string;
  messageId: number;
  params: Record<string, unknown>;
};
export type GetUpdatesCall = {
  offset: number | undefined;
  timeout: number;
  limit: number | undefined;
};
type Failure = { status: number; description: string; retryAfter?: number };

export type FakeTelegramBotApi = {
  /** Configure as `channels.telegram.apiBaseUrl`. */
  apiBaseUrl: string;
  token: string;
  botUsername: string;
  /** Messages the bot sent (`sendMessage`), in order. */
  sent: SentMessage[];
  getUpdatesCalls: GetUpdatesCall[];
  /** A user writes to the bot; returns the update id. */
  pushMessage(message: {
    chatId: number;
    text?: string;
    username?: string;
    chatType?: Chat['type'];
  }): number;
  /** The next call of `method` fails like the real API does (`retryAfter` for 429). */
  failNext(method: 'getMe' | 'getUpdates' | 'sendMessage', failure: Failure): void;
  waitForSent(predicate: (m: SentMessage) => boolean, timeoutMs?: number): Promise<SentMessage>;
  /** Resolves at the first `getUpdates` call matching `predicate` (e.g. a given offset). */
  waitForGetUpdates(
    predicate: (call: GetUpdatesCall) => boolean,
    timeoutMs?: number,
  ): Promise<GetUpdatesCall>;
  /** Updates not yet confirmed by an offset past them. */
  readonly pendingUpdates: number;
  /**
   * Simulates confirmations that never reached Telegram (the bot crashed
   * before its next poll): updates stay held and are served again to a
   * `getUpdates` without an offset (or with an older one).
   */
  retainConfirmed: boolean;
  close(): Promise<void>;
};

/**
 * The Telegram Bot API subset Loopgate uses — `getMe`, long-polling
 * `getUpdates` (offset confirms and forgets earlier updates, `timeout` holds
 * the request open, a second concurrent poll ends the first with 409) and
 * `sendMessage` — served on 127.0.0.1 under `/bot<token>/<method>`, with the
 * real response envelope `{ ok, result }` / `{ ok: false, error_code, description }`.
 */
export async function startFakeTelegramBotApi(
  options: { token?: string; botUsername?: string } = {},
): Promise<FakeTelegramBotApi> {
  const token = options.token ?? '123456:TEST-fake-bot-token';
  const botUsername = options.botUsername ?? 'loopgate_test_bot';
  let updates: Update[] = [];
  let nextUpdateId = 500_000;
  let nextMessageId = 1;
  const sent: SentMessage[] = [];
  const getUpdatesCalls: GetUpdatesCall[] = [];
  const failures = new Map<string, Failure[]>();
  const listeners = new Set<() => void>();
  let waitingPoll: { res: ServerResponse; wake: () => void } | undefined;
  const notify = () => {
    for (const l of listeners) l();
  };
  const subscribe = (l: () => void) => {
    listeners.add(l);
    return () => listeners.delete(l);
  };

  const ok = (res: ServerResponse, result: unknown) => sendJson(res, 200, { ok: true, result });
  const fail = (res: ServerResponse, f: Failure) =>
    sendJson(res, f.status, {
      ok: false,
      error_code: f.status,
      description: f.description,
      ...(f.retryAfter !== undefined ? { parameters: { retry_after: f.retryAfter } } : {}),
    });

  const started = await listenLocal((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://fake');
      const raw = await readBody(req);
      const match = /^\/bot([^/]+)\/(\w+)$/.exec(url.pathname);
      if (!match) {
        sendJson(res, 404, { ok: false, error_code: 404, description: 'Not Found' });
        return;
      }
      const [, presented, method] = match;
      if (presented !== token) {
        fail(res, { status: 401, description: 'Unauthorized' });
        return;
      }
      const params: Record<string, unknown> = Object.fromEntries(url.searchParams);
      if (raw) {
        try {
          Object.assign(params, JSON.parse(raw) as Record<string, unknown>);
        } catch {
          fail(res, { status: 400, description: 'Bad Request: cannot parse JSON body' });
          return;
        }
      }
      const failure = failures.get(method!)?.shift();
      if (failure) {
        fail(res, failure);
        return;
      }
      switch (method) {
        case 'getMe':
          ok(res, {
            id: Number(token.split(':')[0]),
            is_bot: true,
            first_name: 'Loopgate Test',
            username: botUsername,
          });
          return;
        case 'getUpdates': {
          const offset = params.offset === undefined ? undefined : Number(params.offset);
          const timeout = Number(params.timeout ?? 0);
          const limit = params.limit === undefined ? undefined : Number(params.limit);
          getUpdatesCalls.push({ offset, timeout, limit });
          notify();
          // An offset confirms every earlier update: Telegram forgets them for good.
          if (offset !== undefined && !api.retainConfirmed)
            updates = updates.filter((u) => u.update_id >= offset);
          if (waitingPoll) {
            fail(waitingPoll.res, {
              status: 409,
              description: 'Conflict: terminated by other getUpdates request',
            });
            waitingPoll.wake();
            waitingPoll = undefined;
          }
          const due = () => updates.filter((u) => offset === undefined || u.update_id >= offset);
          if (due().length === 0 && timeout > 0) {
            await new Promise<void>((resolve) => {
              const timer = setTimeout(resolve, timeout * 1000);
              const wake = () => {
                clearTimeout(timer);
                resolve();
              };
              waitingPoll = { res, wake };
              res.once('close', wake);
            });
            // (reassigned inside the promise above; TypeScript cannot see that)
            const current = waitingPoll as { res: ServerResponse } | undefined;
            if (current?.res === res) waitingPoll = undefined;
            if (res.writableEnded || res.destroyed) return;
          }
          ok(res, due().slice(0, limit ?? 100));
          return;
        }
        case 'sendMessage': {
          const chatId = String(params.chat_id ?? '');
          const text = typeof params.text === 'string' ? params.text : '';
          if (!chatId || !text) {
            fail(res, { status: 400, description: 'Bad Request: message text is empty' });
            return;
          }
          if (text.length > 4096) {
            fail(res, { status: 400, description: 'Bad Request: message is too long' });
            return;
          }
          const message: SentMessage = { chatId, text, messageId: nextMessageId++, params };
          sent.push(message);
          notify();
          ok(res, {
            message_id: message.messageId,
            date: Math.floor(Date.now() / 1000),
            chat: { id: Number(chatId), type: 'private' },
            text,
          });
          return;
        }
        default:
          sendJson(res, 404, {
            ok: false,
            error_code: 404,
            description: 'Not Found: method not found',
          });
      }
    })();
  });

  const api: FakeTelegramBotApi = {
    retainConfirmed: false,
    apiBaseUrl: `http://127.0.0.1:${started.port}`,
    token,
    botUsername,
    sent,
    getUpdatesCalls,
    pushMessage(message) {
      const update: Update = {
        update_id: nextUpdateId++,
        message: {
          message_id: nextMessageId++,
          date: Math.floor(Date.now() / 1000),
          chat: {
            id: message.chatId,
            type: message.chatType ?? 'private',
            ...(message.username ? { username: message.username } : {}),
          },
          from: {
            id: Math.abs(message.chatId),
            is_bot: false,
            first_name: 'Tester',
            ...(message.username ? { username: message.username } : {}),
          },
          ...(message.text !== undefined ? { text: message.text } : {}),
        },
      };
      updates.push(update);
      waitingPoll?.wake();
      return update.update_id;
    },
    failNext(method, failure) {
      const list = failures.get(method) ?? [];
      list.push(failure);
      failures.set(method, list);
    },
    waitForSent: (predicate, timeoutMs) =>
      waitForItem(sent, subscribe, predicate, 'a sendMessage call', timeoutMs),
    waitForGetUpdates: (predicate, timeoutMs) =>
      waitForItem(getUpdatesCalls, subscribe, predicate, 'a getUpdates call', timeoutMs),
    get pendingUpdates() {
      return updates.length;
    },
    close: started.close,
  };
  return api;
}
