import { isPlainJson } from '@loopgate/protocol';
import { type TrackedEnvelope, tracked } from '@trpc/server';

/**
 * tRPC `result` frames written as text for the common case — a value that is
 * plain JSON under the superjson wire format, so its payload is just
 * `{"json":<value>}` — instead of building the envelope objects, running the
 * transformer and stringifying the whole thing. The bytes are exactly what
 * `JSON.stringify` makes of the object form (same keys, same order); the
 * test checks that on generated values.
 */

type Id = number | string;

function idText(id: Id): string {
  return typeof id === 'number' ? String(id) : JSON.stringify(id);
}

function head(id: Id, jsonrpc: '2.0' | undefined): string {
  return jsonrpc === undefined
    ? `{"id":${idText(id)},"result":{"type":"data",`
    : `{"id":${idText(id)},"jsonrpc":"2.0","result":{"type":"data",`;
}

/** `{ id, jsonrpc?, result: { type: 'data', data: { json: <valueJson> } } }` */
export function dataFrame(id: Id, jsonrpc: '2.0' | undefined, valueJson: string): string {
  return `${head(id, jsonrpc)}"data":{"json":${valueJson}}}}`;
}

/** `{ id, jsonrpc?, result: { type: 'data', id: trackedId, data: { json: { id: trackedId, data: <valueJson> } } } }` */
export function trackedDataFrame(
  id: Id,
  jsonrpc: '2.0' | undefined,
  trackedId: string,
  valueJson: string,
): string {
  const tracked = JSON.stringify(trackedId);
  return `${head(id, jsonrpc)}"id":${tracked},"data":{"json":{"id":${tracked},"data":${valueJson}}}}}`;
}

/** The JSON text of `value` when the wire format sends it as is; undefined when the transformer must annotate it. */
export function plainJsonText(value: unknown): string | undefined {
  return isPlainJson(value) ? JSON.stringify(value) : undefined;
}

/** Where `trackedWithJson` keeps the text: after tRPC's `[id, value, marker]`, which its own consumers read. */
const KNOWN_JSON_AT = 3;

/**
 * tRPC's tracked envelope carrying `value`'s JSON text when the producer
 * already has it (`json` must be what `plainJsonText(value)` gives, or
 * undefined), so the connection writes those bytes instead of stringifying
 * the value again.
 */
export function trackedWithJson<T>(
  id: string,
  value: T,
  json: string | undefined,
): TrackedEnvelope<T> {
  const envelope = tracked(id, value);
  if (json !== undefined) (envelope as unknown[])[KNOWN_JSON_AT] = json;
  return envelope;
}

/** The text `trackedWithJson` put on the envelope, if any. */
export function knownJsonOf(envelope: readonly unknown[]): string | undefined {
  const json = envelope[KNOWN_JSON_AT];
  return typeof json === 'string' ? json : undefined;
}

/**
 * An event reaches every subscriber as the same object within one tick (the
 * bus hands each listener the same entry), so its JSON text is computed once
 * and reused for the others. Entries live until the end of the tick and are
 * keyed by object and tracked id, so a value mutated and sent again later is
 * never served stale.
 */
export class FanOutJson {
  readonly #texts = new Map<object, { trackedId: string; text: string | undefined }>();
  #clearing = false;
  readonly #clear = (): void => {
    this.#texts.clear();
    this.#clearing = false;
  };

  textOf(value: unknown, trackedId: string): string | undefined {
    if (value === null || typeof value !== 'object') return plainJsonText(value);
    const hit = this.#texts.get(value);
    if (hit !== undefined && hit.trackedId === trackedId) return hit.text;
    const text = plainJsonText(value);
    this.#texts.set(value, { trackedId, text });
    if (!this.#clearing) {
      this.#clearing = true;
      process.nextTick(this.#clear);
    }
    return text;
  }
}

/**
 * Several items of one subscription yielded at once: the connection writes
 * each as its own frame, exactly as if they had been yielded one by one.
 * A stream that has a burst queued hands it over in one step instead of
 * one async-generator round trip per item.
 */
export class StreamBatch<T = unknown> {
  constructor(readonly items: readonly T[]) {}
}

export function streamBatch<T>(items: readonly T[]): StreamBatch<T> {
  return new StreamBatch(items);
}

/**
 * A stream that may yield `StreamBatch`es, typed as what its subscribers
 * receive: the connection unrolls every batch, so no client ever sees one.
 */
export function unrolledStream<T>(stream: AsyncGenerator<T | StreamBatch<T>>): AsyncGenerator<T> {
  return stream as AsyncGenerator<T>;
}
