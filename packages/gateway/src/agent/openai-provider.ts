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
  systemPrompt?: string | undefined;
};

const DEFAULT_SYSTEM_PROMPT =
  'You are the assistant of a Loopgate gateway. You can run commands on the connected nodes (machines and devices) through the tools offered to you. Call a tool when the user asks for something a node can do, then answer briefly with what it returned.';

/**
 * Any OpenAI-compatible Chat Completions endpoint (OpenAI, Ollama, vLLM,
 * llama.cpp server, LM Studio): streams the answer, offers each approved node
 * command as a function, runs the calls the model asks for through the
 * toolbox, feeds the results back, and repeats until the model answers or
 * `maxToolRounds` is spent.
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
    arm();
    try {
      let response: Response;
      try {
        response = await fetch(this.#endpoint, {
          method: 'POST',
          headers,
          body: JSON.stringify(body),
          signal,
        });
      } catch (error) {
        throw this.#transportError(error, turn.signal, idle.signal);
      }
      if (!response.ok) throw await this.#httpError(response);
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

  #transportError(error: unknown, runSignal: AbortSignal, idleSignal: AbortSignal): Error {
    if (runSignal.aborted)
      return runSignal.reason instanceof Error
        ? runSignal.reason
        : new DOMException('cancelled', 'AbortError');
    if (idleSignal.aborted) {
      return new ProviderError(
        'PROVIDER_TIMEOUT',
        `no response from ${this.endpoint} within ${this.#options.timeoutMs} ms (agent.openai.timeoutMs)`,
      );
    }
    if (error instanceof ProviderError) return error;
    const cause =
      (error as { cause?: { code?: string } }).cause?.code ?? (error as { code?: string }).code;
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
    if (status === 429) {
      const retryAfterMs = parseRetryAfter(response.headers.get('retry-after'));
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
        { status },
      );
    const hint =
      status === 404
        ? `; check agent.openai.baseUrl and agent.openai.model ("${this.#options.model}")`
        : '';
    return new ProviderError('PROVIDER_BAD_RESPONSE', `${where}${hint}${detail}`, { status });
  }

  /** The server's own error message, short, with the key scrubbed should it appear. */
  async #errorDetail(response: Response): Promise<string> {
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
