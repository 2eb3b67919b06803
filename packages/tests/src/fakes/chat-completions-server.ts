import type { IncomingHttpHeaders } from 'node:http';
import { listenLocal, readBody, sendJson, waitForItem } from './http-server.js';

/** One piece of a scripted SSE response, written as its own network write. */
export type StreamPiece =
  /** One event: `data: <json>\n\n`. */
  | { data: unknown }
  /** Bytes exactly as given: lets a test split an event (or a UTF-8 character) across writes. */
  | { raw: string }
  /** Hold the stream here until the test opens the gate. */
  | { gate: Promise<void> }
  /** `data: [DONE]`. */
  | { done: true }
  /** Cut the connection here, like a server that dies mid-answer. */
  | { hangUp: true };

export type ChatReply =
  | { kind: 'stream'; pieces: StreamPiece[] }
  | { kind: 'error'; status: number; body?: unknown; headers?: Record<string, string> }
  /** A server that ignores `stream: true` and answers with one JSON body. */
  | { kind: 'json'; body: unknown }
  /** Accepts the request and never answers (for timeouts). */
  | { kind: 'hang' };

export type RecordedChatRequest = {
  path: string;
  headers: IncomingHttpHeaders;
  body: {
    model?: string;
    stream?: boolean;
    messages: Array<{
      role: string;
      content: string | null;
      tool_calls?: unknown[];
      tool_call_id?: string;
    }>;
    tools?: Array<{
      type: string;
      function: { name: string; description?: string; parameters?: unknown };
    }>;
  };
};

export type FakeChatCompletions = {
  /** Base URL to configure as `agent.openai.baseUrl` (ends in `/v1`). */
  baseUrl: string;
  requests: RecordedChatRequest[];
  /**
   * Replies are used in order, one per request; a request with no reply left
   * gets a 500 naming the problem. A function computes its reply from the
   * request (e.g. an answer quoting the tool result it was sent).
   */
  enqueue(...replies: Array<ChatReply | ((request: RecordedChatRequest) => ChatReply)>): void;
  waitForRequest(n: number, timeoutMs?: number): Promise<RecordedChatRequest>;
  close(): Promise<void>;
};

/** The gateway's `agent` config pointing the openai provider at this stand-in. */
export function openaiAgentConfig(model: Pick<FakeChatCompletions, 'baseUrl'>) {
  return {
    provider: 'openai',
    openai: {
      baseUrl: model.baseUrl,
      model: 'fake-model',
      apiKey: 'sk-fake-key-for-tests',
      timeoutMs: 10_000,
    },
  } as const;
}

let chunkCounter = 0;

/** A `chat.completion.chunk` with one choice. */
export function completionChunk(
  delta: Record<string, unknown>,
  finishReason: string | null = null,
): Record<string, unknown> {
  return {
    id: `chatcmpl-fake-${++chunkCounter}`,
    object: 'chat.completion.chunk',
    created: Math.floor(Date.now() / 1000),
    model: 'fake-model',
    choices: [{ index: 0, delta, finish_reason: finishReason }],
  };
}

/** The text as a stream split into `pieces` deltas (role first, finish last, then `[DONE]`). */
export function textReply(
  text: string,
  options: { pieces?: number; gateAfter?: { index: number; gate: Promise<void> } } = {},
): ChatReply {
  const n = Math.max(1, Math.min(options.pieces ?? 3, text.length));
  const size = Math.ceil(text.length / n);
  const pieces: StreamPiece[] = [{ data: completionChunk({ role: 'assistant', content: '' }) }];
  for (let i = 0; i < text.length; i += size) {
    pieces.push({ data: completionChunk({ content: text.slice(i, i + size) }) });
    if (options.gateAfter && options.gateAfter.index === i / size)
      pieces.push({ gate: options.gateAfter.gate });
  }
  pieces.push({ data: completionChunk({}, 'stop') }, { done: true });
  return { kind: 'stream', pieces };
}

/**
 * Tool calls the way OpenAI streams them: the first delta of each call has
 * its index, id and name; the JSON arguments follow in `argPieces` fragments
 * (calls interleaved when there are several). With `splitEvents`, every event
 * is also cut in two network writes.
 */
export function toolCallReply(
  calls: Array<{ id?: string; name: string; arguments: unknown }>,
  options: { argPieces?: number; content?: string; splitEvents?: boolean } = {},
): ChatReply {
  const events: unknown[] = [
    completionChunk({ role: 'assistant', content: options.content ?? null }),
  ];
  const args = calls.map((c) =>
    typeof c.arguments === 'string' ? c.arguments : JSON.stringify(c.arguments),
  );
  calls.forEach((call, index) => {
    events.push(
      completionChunk({
        tool_calls: [
          {
            index,
            id: call.id ?? `call_fake_${index}`,
            type: 'function',
            function: { name: call.name, arguments: '' },
          },
        ],
      }),
    );
  });
  const n = Math.max(1, options.argPieces ?? 3);
  for (let p = 0; p < n; p++) {
    calls.forEach((_, index) => {
      const full = args[index]!;
      const size = Math.ceil(full.length / n);
      const fragment = full.slice(p * size, (p + 1) * size);
      if (fragment)
        events.push(
          completionChunk({ tool_calls: [{ index, function: { arguments: fragment } }] }),
        );
    });
  }
  events.push(completionChunk({}, 'tool_calls'));
  const pieces: StreamPiece[] = [];
  for (const event of events) {
    if (!options.splitEvents) {
      pieces.push({ data: event });
      continue;
    }
    const line = `data: ${JSON.stringify(event)}\n\n`;
    const cut = Math.floor(line.length / 2);
    pieces.push({ raw: line.slice(0, cut) }, { raw: line.slice(cut) });
  }
  pieces.push({ done: true });
  return { kind: 'stream', pieces };
}

/**
 * An OpenAI-compatible Chat Completions endpoint on 127.0.0.1: `POST
 * /v1/chat/completions` answered from a per-test script, streaming real SSE
 * (`text/event-stream`, `data:` events, `[DONE]`), recording every request.
 */
export async function startFakeChatCompletions(): Promise<FakeChatCompletions> {
  const replies: Array<ChatReply | ((request: RecordedChatRequest) => ChatReply)> = [];
  const requests: RecordedChatRequest[] = [];
  const listeners = new Set<() => void>();
  const started = await listenLocal((req, res) => {
    void (async () => {
      const raw = await readBody(req);
      if (req.method !== 'POST' || req.url !== '/v1/chat/completions') {
        sendJson(res, 404, {
          error: { message: `no route ${req.method} ${req.url}`, type: 'invalid_request_error' },
        });
        return;
      }
      let body: RecordedChatRequest['body'];
      try {
        body = JSON.parse(raw) as RecordedChatRequest['body'];
      } catch {
        sendJson(res, 400, {
          error: { message: 'body is not JSON', type: 'invalid_request_error' },
        });
        return;
      }
      const recorded: RecordedChatRequest = { path: req.url, headers: req.headers, body };
      requests.push(recorded);
      for (const listener of listeners) listener();
      const next = replies.shift();
      const reply = typeof next === 'function' ? next(recorded) : next;
      if (!reply) {
        sendJson(res, 500, {
          error: { message: `fake server: no scripted reply for request #${requests.length}` },
        });
        return;
      }
      switch (reply.kind) {
        case 'hang':
          return;
        case 'error':
          sendJson(
            res,
            reply.status,
            reply.body ?? { error: { message: `scripted HTTP ${reply.status}` } },
            reply.headers,
          );
          return;
        case 'json':
          sendJson(res, 200, reply.body);
          return;
        case 'stream': {
          res.writeHead(200, {
            'content-type': 'text/event-stream',
            'cache-control': 'no-cache',
            connection: 'keep-alive',
          });
          res.flushHeaders();
          for (const piece of reply.pieces) {
            if (res.destroyed) return;
            if ('hangUp' in piece) {
              res.destroy();
              return;
            }
            if ('gate' in piece) await piece.gate;
            else if ('raw' in piece) await write(res, piece.raw);
            else if ('done' in piece) await write(res, 'data: [DONE]\n\n');
            else await write(res, `data: ${JSON.stringify(piece.data)}\n\n`);
          }
          res.end();
          return;
        }
      }
    })();
  });
  return {
    baseUrl: `http://127.0.0.1:${started.port}/v1`,
    requests,
    enqueue: (...more) => replies.push(...more),
    waitForRequest: (n, timeoutMs) =>
      waitForItem(
        requests,
        (l) => {
          listeners.add(l);
          return () => listeners.delete(l);
        },
        (r) => requests.indexOf(r) === n - 1,
        `chat completions request #${n}`,
        timeoutMs,
      ),
    close: started.close,
  };
}

function write(res: import('node:http').ServerResponse, text: string): Promise<void> {
  return new Promise<void>((resolve) => {
    res.write(text, () => resolve());
  });
}
