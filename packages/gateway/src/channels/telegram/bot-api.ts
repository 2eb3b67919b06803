/** The Bot API subset Loopgate uses. */
export type TelegramChat = { id: number; type: string; username?: string; title?: string };
export type TelegramMessage = {
  message_id: number;
  date: number;
  chat: TelegramChat;
  text?: string;
};
export type TelegramUpdate = { update_id: number; message?: TelegramMessage };
export type TelegramBot = { id: number; username?: string; first_name?: string };

/**
 * A failed Bot API call. The message names the method and Telegram's
 * description — never the URL, which carries the bot token.
 */
export class TelegramApiError extends Error {
  override readonly name = 'TelegramApiError';
  constructor(
    readonly method: string,
    /** HTTP status, or 0 when Telegram was not reached. */
    readonly status: number,
    readonly description: string,
    readonly retryAfterSec?: number,
  ) {
    super(`telegram ${method}: ${status ? `${status} ` : ''}${description}`);
  }

  /** The token is wrong or revoked: retrying cannot help. */
  get isFatal(): boolean {
    return this.status === 401 || this.status === 404;
  }
}

/** Calls `<apiBaseUrl>/bot<token>/<method>` with a JSON body and unwraps `{ ok, result }`. */
export class TelegramBotApi {
  readonly #base: string;

  constructor(apiBaseUrl: string, token: string) {
    this.#base = `${apiBaseUrl.replace(/\/+$/, '')}/bot${token}`;
  }

  getMe(signal: AbortSignal): Promise<TelegramBot> {
    return this.#call('getMe', {}, signal);
  }

  getUpdates(
    params: { offset?: number | undefined; timeout: number },
    signal: AbortSignal,
  ): Promise<TelegramUpdate[]> {
    return this.#call('getUpdates', { ...params, allowed_updates: ['message'] }, signal);
  }

  sendMessage(
    params: { chat_id: string; text: string },
    signal: AbortSignal,
  ): Promise<TelegramMessage> {
    return this.#call('sendMessage', params, signal);
  }

  async #call<T>(method: string, params: Record<string, unknown>, signal: AbortSignal): Promise<T> {
    let response: Response;
    try {
      response = await fetch(`${this.#base}/${method}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(params),
        signal,
      });
    } catch (error) {
      if (signal.aborted) throw error;
      const code = (error as { cause?: { code?: string } }).cause?.code;
      throw new TelegramApiError(
        method,
        0,
        code === 'ECONNREFUSED' ? 'connection refused' : (code ?? 'network error'),
      );
    }
    let body: {
      ok?: boolean;
      result?: T;
      description?: string;
      parameters?: { retry_after?: number };
    };
    try {
      body = (await response.json()) as typeof body;
    } catch {
      if (signal.aborted) throw signal.reason;
      throw new TelegramApiError(method, response.status, 'response was not JSON');
    }
    if (!response.ok || body.ok !== true) {
      throw new TelegramApiError(
        method,
        response.status,
        body.description ?? 'request failed',
        body.parameters?.retry_after,
      );
    }
    return body.result as T;
  }
}
