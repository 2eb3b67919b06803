import { createParser } from 'eventsource-parser';

export type AssembledToolCall = { id: string; name: string; arguments: string };
export type AssembledMessage = {
  content: string;
  toolCalls: AssembledToolCall[];
  finishReason: string | undefined;
};

type ToolCallDelta = {
  index?: number;
  id?: string;
  function?: { name?: string; arguments?: string };
};
type ChoiceDelta = { content?: string | null; tool_calls?: ToolCallDelta[] };
type Choice = {
  index?: number;
  delta?: ChoiceDelta;
  message?: ChoiceDelta;
  finish_reason?: string | null;
};

/** A `data:` payload the stream carried that is not a completion chunk. */
export class StreamPayloadError extends Error {
  override readonly name = 'StreamPayloadError';
}

/**
 * Rebuilds one assistant message from Chat Completions stream chunks. Tool
 * calls arrive in pieces — the id and name first, the JSON arguments split
 * over any number of later chunks, several calls interleaved by `index` — and
 * servers differ (some omit `index`, some send a whole call in one chunk),
 * so pieces are matched by index, then by id, then to the call in progress.
 */
export class ChatStreamAssembler {
  #content = '';
  readonly #calls: AssembledToolCall[] = [];
  readonly #byIndex = new Map<number, AssembledToolCall>();
  #finishReason: string | undefined;

  /** Takes one parsed chunk; returns the text it adds (to stream to the user), if any. */
  push(chunk: unknown): string | undefined {
    if (chunk === null || typeof chunk !== 'object')
      throw new StreamPayloadError('a stream chunk was not a JSON object');
    const { choices, error } = chunk as { choices?: Choice[]; error?: { message?: unknown } };
    if (error) {
      const message =
        typeof error.message === 'string' ? error.message.slice(0, 300) : 'unspecified error';
      throw new StreamPayloadError(`the model endpoint reported an error mid-stream: ${message}`);
    }
    const choice = choices?.find((c) => (c.index ?? 0) === 0) ?? choices?.[0];
    if (!choice) return undefined; // usage-only or keep-alive chunk
    if (choice.finish_reason) this.#finishReason = choice.finish_reason;
    const delta = choice.delta ?? choice.message;
    if (!delta) return undefined;
    for (const piece of delta.tool_calls ?? []) this.#addToolCallPiece(piece);
    const text = typeof delta.content === 'string' ? delta.content : '';
    if (!text) return undefined;
    this.#content += text;
    return text;
  }

  finish(): AssembledMessage {
    const toolCalls = this.#calls
      .filter((c) => c.name !== '')
      .map((c, i) => ({ ...c, id: c.id || `call_${i}` }));
    return { content: this.#content, toolCalls, finishReason: this.#finishReason };
  }

  #addToolCallPiece(piece: ToolCallDelta): void {
    let call: AssembledToolCall | undefined;
    if (typeof piece.index === 'number') {
      call = this.#byIndex.get(piece.index);
      if (!call) {
        call = { id: '', name: '', arguments: '' };
        this.#byIndex.set(piece.index, call);
        this.#calls.push(call);
      }
    } else if (piece.id) {
      call = this.#calls.find((c) => c.id === piece.id);
      if (!call) {
        call = { id: '', name: '', arguments: '' };
        this.#calls.push(call);
      }
    } else {
      call = this.#calls.at(-1);
      if (!call) {
        call = { id: '', name: '', arguments: '' };
        this.#calls.push(call);
      }
    }
    if (piece.id && !call.id) call.id = piece.id;
    const name = piece.function?.name;
    // Most servers send the name once; a few repeat it on every piece.
    if (name && call.name !== name) call.name += name;
    const args = piece.function?.arguments;
    if (typeof args === 'string') call.arguments += args;
  }
}

/**
 * Feeds an SSE byte stream to `onData`, one `data:` payload at a time, until
 * `[DONE]` or the end of the body. `onChunk` fires for every network chunk
 * (the caller's idle timer). Events are decoded across chunk boundaries,
 * including a multi-byte character split between two chunks.
 */
export async function readServerSentEvents(
  body: AsyncIterable<Uint8Array>,
  onData: (data: string) => void,
  onChunk?: () => void,
): Promise<{ done: boolean }> {
  let done = false;
  let failure: unknown;
  const parser = createParser({
    maxBufferSize: 16 * 1024 * 1024,
    onEvent(event) {
      if (done || failure !== undefined) return;
      if (event.data === '[DONE]') {
        done = true;
        return;
      }
      try {
        onData(event.data);
      } catch (error) {
        failure = error;
      }
    },
    onError(error) {
      if (error.type === 'max-buffer-size-exceeded')
        failure ??= new StreamPayloadError('a stream event was larger than 16 MiB');
    },
  });
  const decoder = new TextDecoder();
  for await (const bytes of body) {
    onChunk?.();
    parser.feed(decoder.decode(bytes, { stream: true }));
    if (failure !== undefined) throw failure;
    if (done) return { done };
  }
  parser.feed(decoder.decode());
  parser.reset({ consume: true });
  if (failure !== undefined) throw failure;
  return { done };
}

/** Parses one `data:` payload as JSON, naming the problem if it is not. */
export function parseChunk(data: string): unknown {
  try {
    return JSON.parse(data) as unknown;
  } catch {
    throw new StreamPayloadError('the model endpoint sent a stream event that is not JSON');
  }
}
