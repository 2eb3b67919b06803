import type { CombinedDataTransformer } from '@trpc/server';
import superjson from 'superjson';

type SuperJsonPayload = { json: unknown; meta?: unknown };

const MAX_PLAIN_DEPTH = 64;

/**
 * True when `value` survives JSON unchanged, so superjson would emit it as
 * `{ json: value }` with no annotations. Anything superjson annotates
 * (undefined, NaN, ±Infinity, -0, Date, Map, Set, BigInt, class instances, …)
 * or anything nested too deep to check cheaply makes this false.
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

/**
 * superjson's wire format without superjson's cost on the hot path: plain
 * JSON values (nearly every message) are wrapped as `{ json }` directly, and
 * payloads without `meta` are unwrapped without the deep copy superjson makes
 * (they were just parsed from the socket, nobody else holds them). Anything
 * else goes through superjson itself, so stock superjson clients and servers
 * see exactly the format they expect.
 */
export const fastTransformer: CombinedDataTransformer = {
  input: {
    serialize: serializeFast,
    deserialize: deserializeFast,
  },
  output: {
    serialize: serializeFast,
    deserialize: deserializeFast,
  },
};

function serializeFast(value: unknown): SuperJsonPayload {
  return isPlainJson(value) ? { json: value } : (superjson.serialize(value) as SuperJsonPayload);
}

function deserializeFast(payload: unknown): unknown {
  if (payload === null || typeof payload !== 'object') return payload;
  const { json, meta } = payload as SuperJsonPayload;
  if (meta === undefined) return json;
  return superjson.deserialize(payload as Parameters<typeof superjson.deserialize>[0]);
}
