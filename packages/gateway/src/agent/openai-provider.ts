import { type ChatMessage, chatMessagesFromTranscript } from './chat-messages.js';
import {
  type AssembledMessage,
  ChatStreamAssembler,
  parseChunk,
  readServerSentEvents,
  StreamPayloadError,
} from './chat-stream.js';
import {
  type AgentProvider,
  ProviderError,
  type ProviderTurn,
  type ProviderTurnResult,
} from './provider.js';
import { type ToolSpec, toolResultContent } from './tools.js';

export type OpenAiProviderOptions = {
  baseUrl: string;
  model: string;
  apiKey?: string | undefined;
  /** No byte from the endpoint for this long (before or during the stream) fails the request. */
  timeoutMs: number;
  /** Rounds in which the model may call tools before it must answer. */
  maxToolRounds: number;
  /**
   * Retries of a request that failed before any of the answer arrived (HTTP
   * 429, 500/502/503/504, connection refused/reset); 0 disables. Default 2.
   */
  maxRetries?: number | undefined;
  /** First backoff step, doubled per retry (full jitter); default 500 ms. Tests shorten it. */
  retryBaseDelayMs?: number | undefined;
  systemPrompt?: string | undefined;
};

const DEFAULT_MAX_RETRIES = 2;
const DEFAULT_RETRY_BASE_DELAY_MS = 500;
const MAX_BACKOFF_MS = 8_000;
/**
 * The longest `Retry-After` worth waiting for: a server asking for more (an
 * exhausted quota, typically) fails the run at once rather than leaving it
 * stuck for minutes; the error carries `retryAfterMs` for whoever retries later.
 */
const MAX_RETRY_AFTER_MS = 30_000;
/** Rate limiting, and a model server (or the proxy in front of it) that is overloaded or restarting. */
const RETRY_STATUSES = new Set([429, 500, 502, 503, 504]);
/** Socket failures before any response: the server sent nothing, so asking again duplicates nothing. */
const RETRY_NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET']);

/** How one POST ended: a 2xx response whose body is still unread, or an error and whether to try again. */
type Attempt = { ok: true; response: Response } | { ok: false; error: Error; retry: boolean };

const DEFAULT_SYSTEM_PROMPT =
  'You are the assistant of a Loopgate gateway. You can run commands on the connected nodes (machines and devices) through the tools offered to you. Call a tool when the user asks for something a node can do, then answer briefly with what it returned.';

/**
 * Any OpenAI-compatible Chat Completions endpoint (OpenAI, Ollama, vLLM,
 * llama.cpp server, LM Studio): streams the answer, offers each approved node
 * command as a function, runs the calls the model asks for through the
 * toolbox, feeds the results back, and repeats until the model answers or
 * `maxToolRounds` is spent. A request that fails before its answer starts
 * (429, 5xx, refused connection) is retried up to `maxRetries` times.
 */
export class OpenAiProvider implements AgentProvider {
  readonly name = 'openai';
  readonly #options: OpenAiProviderOptions;
  readonly #endpoint: URL;

  constructor(options: OpenAiProviderOptions) {
    this.#options = options;
    this.#endpoint = new URL(`${options.baseUrl.replace(/\/+$/, '')}/chat/completions`);
  }

  /** Where requests go, as it is safe to show (no credentials, no query). */
  get endpoint(): string {
    return `${this.#endpoint.origin}${this.#endpoint.pathname}`;
  }

  async runTurn(turn: ProviderTurn): Promise<ProviderTurnResult> {
    const tools = await turn.toolbox.catalog();
    const messages: ChatMessage[] = [
      { role: 'system', content: this.#options.systemPrompt ?? DEFAULT_SYSTEM_PROMPT },
      ...chatMessagesFromTranscript(turn.history),
      { role: 'user', content: turn.message },
    ];
    let toolRounds = 0;
    for (let round = 1; ; round++) {
      const reply = await this.#complete(messages, tools, turn, round);
      turn.onAssistantMessage(round, reply.content);
      if (reply.toolCalls.length === 0) return { text: reply.content };
      if (toolRounds >= this.#options.maxToolRounds) {
        throw new ProviderError(
          'TOOL_ROUNDS_EXCEEDED',
          `the model was still calling tools after ${this.#options.maxToolRounds} rounds (agent.openai.maxToolRounds); it gave no answer`,
        );
      }
      toolRounds++;
      messages.push({
        role: 'assistant',
        content: reply.content || null,
        tool_calls: reply.toolCalls.map((c) => ({
          id: c.id,
          type: 'function',
          function: { name: c.name, arguments: c.arguments },
        })),
      });
      // One at a time: node commands may have side effects whose order matters.
      for (const call of reply.toolCalls) {
        const outcome = await turn.toolbox.callByName(call.name, call.arguments, call.id, round);
        turn.signal.throwIfAborted();
        messages.push({ role: 'tool', tool_call_id: call.id, content: toolResultContent(outcome) });
      }
    }
  }

  async #complete(
    messages: ChatMessage[],
    tools: ToolSpec[],
    turn: ProviderTurn,
    round: number,
  ): Promise<AssembledMessage> {
    const idle = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => idle.abort(), this.#options.timeoutMs);
    };
    const signal = AbortSignal.any([turn.signal, idle.signal]);
    const body = {
      model: this.#options.model,
      messages,
      stream: true,
      ...(tools.length > 0
        ? {
            tools: tools.map((t) => ({
              type: 'function',
              function: { name: t.name, description: t.description, parameters: t.parameters },
            })),
          }
        : {}),
    };
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      accept: 'text/event-stream',
    };
    if (this.#options.apiKey) headers.authorization = `Bearer ${this.#options.apiKey}`;
    const payload = JSON.stringify(body);
    const send = async (): Promise<Attempt> => {
      arm();
      let failed: Attempt;
      try {
        const response = await fetch(this.#endpoint, {
          method: 'POST',
          headers,
          body: payload,
          signal,
        });
        if (response.ok) return { ok: true, response };
        failed = {
          ok: false,
          error: await this.#httpError(response),
          retry: RETRY_STATUSES.has(response.status),
        };
      } catch (error) {
        // A cancelled run or an idle timeout is final; only a socket failure is worth another try.
        const retry =
          !turn.signal.aborted &&
          !idle.signal.aborted &&
          RETRY_NETWORK_CODES.has(errorCode(error) ?? '');
        failed = { ok: false, error: this.#transportError(error, turn.signal, idle.signal), retry };
      }
      // The idle clock measures the server, not our backoff: stop it until the next attempt.
      clearTimeout(timer);
      return failed;
    };
    try {
      const response = await this.#postWithRetry(send, turn.signal);
      // From here on the answer is being consumed: nothing below is retried,
      // since sending again would repeat text and tool calls already streamed.
      const assembler = new ChatStreamAssembler();
      const contentType = response.headers.get('content-type') ?? '';
      try {
        if (!contentType.includes('text/event-stream')) {
          // A server that ignored `stream: true` answers with one JSON body.
          assembler.push(parseChunk(await response.text()));
        } else if (response.body) {
          await readServerSentEvents(
            response.body,
            (data) => {
              const text = assembler.push(parseChunk(data));
              if (text) turn.onTextDelta(round, text);
            },
            arm,
          );
        }
      } catch (error) {
        if (error instanceof StreamPayloadError)
          throw new ProviderError('PROVIDER_BAD_RESPONSE', `${this.endpoint}: ${error.message}`);
        throw this.#transportError(error, turn.signal, idle.signal);
      }
      return assembler.finish();
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Sends until a 2xx arrives, retrying only failures where none of the answer
   * was received. The wait honours `Retry-After` (up to MAX_RETRY_AFTER_MS),
   * else backs off exponentially with full jitter so that many runs hitting
   * the same limit do not come back in lockstep. The run's signal cuts a wait
   * short with the same cancellation error as an aborted request.
   */
  async #postWithRetry(send: () => Promise<Attempt>, signal: AbortSignal): Promise<Response> {
    const maxRetries = this.#options.maxRetries ?? DEFAULT_MAX_RETRIES;
    const baseMs = this.#options.retryBaseDelayMs ?? DEFAULT_RETRY_BASE_DELAY_MS;
    for (let attempt = 1; ; attempt++) {
      const outcome = await send();
      if (outcome.ok) return outcome.response;
      const { error } = outcome;
      const retryAfterMs =
        error instanceof ProviderError && typeof error.details?.retryAfterMs === 'number'
          ? error.details.retryAfterMs
          : undefined;
      const giveUp =
        !outcome.retry ||
        attempt > maxRetries ||
        (retryAfterMs !== undefined && retryAfterMs > MAX_RETRY_AFTER_MS);
      if (giveUp) throw withAttemptCount(error, attempt);
      const delayMs =
        retryAfterMs ?? Math.random() * Math.min(MAX_BACKOFF_MS, baseMs * 2 ** (attempt - 1));
      await sleep(delayMs, signal);
    }
  }

  #transportError(error: unknown, runSignal: AbortSignal, idleSignal: AbortSignal): Error {
    if (runSignal.aborted) return cancellation(runSignal);
    if (idleSignal.aborted) {
      return new ProviderError(
        'PROVIDER_TIMEOUT',
        `no response from ${this.endpoint} within ${this.#options.timeoutMs} ms (agent.openai.timeoutMs)`,
      );
    }
    if (error instanceof ProviderError) return error;
    const cause = errorCode(error);
    const why =
      cause === 'ECONNREFUSED'
        ? 'connection refused'
        : cause === 'ENOTFOUND'
          ? 'host not found'
          : cause
            ? cause
            : 'network error';
    return new ProviderError('PROVIDER_UNAVAILABLE', `cannot reach ${this.endpoint}: ${why}`);
  }

  async #httpError(response: Response): Promise<ProviderError> {
    const status = response.status;
    const where = `HTTP ${status} from ${this.endpoint}`;
    if (status === 401 || status === 403) {
      // The body of an auth failure can echo part of the key: never read it.
      await response.body?.cancel().catch(() => {});
      const fix = this.#options.apiKey
        ? 'the API key was rejected; check LOOPGATE_OPENAI_API_KEY / OPENAI_API_KEY or agent.openai.apiKey'
        : 'no API key is configured; set LOOPGATE_OPENAI_API_KEY (or OPENAI_API_KEY, or agent.openai.apiKey)';
      return new ProviderError('PROVIDER_AUTH', `${where}: ${fix}`, { status });
    }
    const detail = await this.#errorDetail(response);
    // Also sent with 503 by servers that are loading a model; #postWithRetry reads it from the details.
    const retryAfterMs = parseRetryAfter(response.headers.get('retry-after'));
    if (status === 429) {
      const when =
        retryAfterMs === undefined ? '' : `; retry after ${Math.ceil(retryAfterMs / 1000)} s`;
      return new ProviderError(
        'PROVIDER_RATE_LIMITED',
        `${where}: rate limited or out of quota${when}${detail}`,
        {
          status,
          ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
        },
      );
    }
    if (status >= 500)
      return new ProviderError(
        'PROVIDER_UNAVAILABLE',
        `${where}: the model server failed${detail}`,
        { status, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) },
      );
    const hint =
      status === 404
        ? `; check agent.openai.baseUrl and agent.openai.model ("${this.#options.model}")`
        : '';
    return new ProviderError('PROVIDER_BAD_RESPONSE', `${where}${hint}${detail}`, { status });
  }

  /** The server's own error message, short, with the key scrubbed should it appear. */
  async #errorDetail(response: Response): Promise<string> {
    // The body is only detail for an error already decided by the status; a broken stream leaves it empty.
    const text = await response.text().catch(() => '');
    let message: string | undefined;
    try {
      const parsed = JSON.parse(text) as {
        error?: { message?: unknown } | string;
        message?: unknown;
      };
      const candidate =
        typeof parsed.error === 'string' ? parsed.error : (parsed.error?.message ?? parsed.message);
      if (typeof candidate === 'string') message = candidate;
    } catch {
      // not JSON: say nothing rather than relay an HTML error page
    }
    if (!message) return '';
    const key = this.#options.apiKey;
    if (key) message = message.split(key).join('[redacted]');
    return ` (${message.slice(0, 300)})`;
  }
}

function parseRetryAfter(value: string | null): number | undefined {
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.round(seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

/** The run's own abort reason, so a cancelled run fails the same way wherever it was waiting. */
function cancellation(signal: AbortSignal): Error {
  return signal.reason instanceof Error
    ? signal.reason
    : new DOMException('cancelled', 'AbortError');
}

/** The system error code of a failed fetch (undici puts it on `cause`). */
function errorCode(error: unknown): string | undefined {
  const e = error as { code?: unknown; cause?: { code?: unknown } } | null | undefined;
  const code = e?.cause?.code ?? e?.code;
  return typeof code === 'string' ? code : undefined;
}

/** The final error, saying how many attempts it took when there was more than one. */
function withAttemptCount(error: Error, attempts: number): Error {
  if (attempts === 1 || !(error instanceof ProviderError)) return error;
  return new ProviderError(
    error.code,
    `${error.message} (after ${attempts} attempts)`,
    error.details,
  );
}

/** Resolves after `ms`, or rejects with the run's cancellation error as soon as `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(cancellation(signal));
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(cancellation(signal));
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
