import superjson from 'superjson';

type SuperJsonPayload = { json: unknown; meta?: unknown };

/** The shape tRPC expects of a `transformer` (its `CombinedDataTransformer`), without importing tRPC. */
export type WireTransformer = {
  input: { serialize(value: unknown): unknown; deserialize(payload: unknown): unknown };
  output: { serialize(value: unknown): unknown; deserialize(payload: unknown): unknown };
};

/** Deeper than this is checked by superjson itself (which also copes with cycles). */
const MAX_PLAIN_DEPTH = 64;

/**
 * What superjson makes of `undefined` — the input of every call without
 * arguments (`health.query()`) — computed once instead of per call.
 */
const UNDEFINED_PAYLOAD: SuperJsonPayload = Object.freeze(
  superjson.serialize(undefined) as SuperJsonPayload,
);

/**
 * True when `value` survives JSON unchanged, so superjson would emit it as
 * `{ json: value }` with no value annotations. Anything superjson annotates
 * (undefined, NaN, ±Infinity, -0, Date, Map, Set, BigInt, class instances…)
 * or anything nested too deep to check cheaply makes this false.
 *
 * One difference is accepted on purpose: an object reachable twice is sent
 * twice (as JSON would) instead of with superjson's referential-equality
 * annotation, so the receiver gets two equal copies rather than one shared one.
 */
export function isPlainJson(value: unknown, depth = 0): boolean {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return true;
    case 'number':
      return Number.isFinite(value) && !Object.is(value, -0);
    case 'object': {
      if (value === null) return true;
      if (depth >= MAX_PLAIN_DEPTH) return false;
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) {
          if (!(i in value) || !isPlainJson(value[i], depth + 1)) return false;
        }
        return true;
      }
      const proto = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) return false;
      for (const key in value) {
        if (!isPlainJson((value as Record<string, unknown>)[key], depth + 1)) return false;
      }
      return true;
    }
    default:
      return false;
  }
}

function serialize(value: unknown): SuperJsonPayload {
  if (value === undefined) return UNDEFINED_PAYLOAD;
  return isPlainJson(value) ? { json: value } : (superjson.serialize(value) as SuperJsonPayload);
}

function deserialize(payload: unknown): unknown {
  if (payload === null || typeof payload !== 'object') return payload;
  const { json, meta } = payload as SuperJsonPayload;
  if (meta === undefined) return json;
  // The payload was parsed from the socket a moment ago and nobody else holds
  // it, so superjson may annotate it in place instead of deep-copying it first.
  return superjson.deserialize(payload as Parameters<typeof superjson.deserialize>[0], {
    inPlace: true,
  });
}

/**
 * superjson's wire format (what stock tRPC clients and servers configured
 * with `transformer: superjson` send and expect) without superjson's walk for
 * plain JSON values, which is nearly every message. Gateway and client both
 * use it, so either side also works with a stock superjson peer.
 */
export const fastTransformer: WireTransformer = {
  input: { serialize, deserialize },
  output: { serialize, deserialize },
};
