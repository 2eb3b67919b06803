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

/** `path` and `key` as an operator would write them: `params.tags`, `params.list[2]`, `params["a b"]`. */
function childPath(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  return /^[A-Za-z_$][\w$]*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
}

function kindOf(value: object): string {
  const name = (value as { constructor?: { name?: unknown } }).constructor?.name;
  if (typeof name !== 'string' || name === '' || name === 'Object')
    return 'an object with a custom prototype';
  return /^[AEIOU]/.test(name) ? `an ${name}` : `a ${name}`;
}

/**
 * Why `value` has no faithful JSON form, as `"<path> is <what>"` for the
 * first offending value, or undefined when `JSON.stringify` keeps its
 * meaning. Object properties that are undefined are fine (JSON drops them,
 * which is what their sender meant); -0 is fine (it becomes 0). Map, Set,
 * Date, BigInt, RegExp, class instances, functions, symbols, non-finite
 * numbers, undefined or missing array items and cycles are not: JSON would
 * turn them into something else (`{}`, a string, `null`) without a word.
 *
 * The slow path behind `isPlainJson`: call it only once that said no.
 */
export function whyNotPlainJson(
  value: unknown,
  path: string,
  enclosing: Set<object> = new Set(),
): string | undefined {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return undefined;
    case 'number':
      return Number.isFinite(value) ? undefined : `${path} is ${value}`;
    case 'undefined':
      return `${path} is undefined`;
    case 'bigint':
      return `${path} is a BigInt`;
    case 'object':
      if (value === null) return undefined;
      if (enclosing.has(value)) return `${path} is a cycle (it contains itself)`;
      return whyObjectNotPlainJson(value, path, enclosing);
    default:
      return `${path} is a ${typeof value}`;
  }
}

function whyObjectNotPlainJson(
  value: object,
  path: string,
  enclosing: Set<object>,
): string | undefined {
  enclosing.add(value);
  try {
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) {
        if (!(i in value)) return `${childPath(path, i)} is missing (a hole in the array)`;
        const why = whyNotPlainJson(value[i], childPath(path, i), enclosing);
        if (why !== undefined) return why;
      }
      return undefined;
    }
    const proto = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) return `${path} is ${kindOf(value)}`;
    for (const key in value) {
      const item = (value as Record<string, unknown>)[key];
      if (item === undefined) continue;
      const why = whyNotPlainJson(item, childPath(path, key), enclosing);
      if (why !== undefined) return why;
    }
    return undefined;
  } finally {
    enclosing.delete(value);
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
 * What a client makes of a gateway's answer: the same, but without
 * superjson's `referentialEqualities`. They only say that two places hold one
 * object, whose copy the JSON already carries in both (superjson, here and in
 * a stock peer, does not dedupe), so a client loses nothing but the sharing.
 * Followed, they let a few hundred bytes from a hostile gateway (or whoever
 * answers on its port) name a tree of 2^40 values, which a client that prints
 * or checks the answer would walk for ever.
 */
function deserializeAnswer(payload: unknown): unknown {
  if (payload === null || typeof payload !== 'object') return payload;
  const { json, meta } = payload as SuperJsonPayload;
  if (meta === null || typeof meta !== 'object' || !('referentialEqualities' in meta))
    return deserialize(payload);
  const { referentialEqualities: _dropped, ...rest } = meta as Record<string, unknown>;
  return deserialize(Object.keys(rest).length === 0 ? { json } : { json, meta: rest });
}

/**
 * superjson's wire format (what stock tRPC clients and servers configured
 * with `transformer: superjson` send and expect) without superjson's walk for
 * plain JSON values, which is nearly every message. Gateway and client both
 * use it, so either side also works with a stock superjson peer.
 */
export const fastTransformer: WireTransformer = {
  input: { serialize, deserialize },
  output: { serialize, deserialize: deserializeAnswer },
};
