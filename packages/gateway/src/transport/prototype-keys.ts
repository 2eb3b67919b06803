/**
 * `__proto__` as a key in a peer's JSON. `JSON.parse` makes it an ordinary
 * own property, but the first spread, `Object.assign` or `obj[key] = value`
 * that copies it sets a prototype instead (prototype pollution), and
 * superjson silently drops it, so the value a procedure sees would differ
 * from the one sent. The gateway refuses such input with BAD_REQUEST, as
 * `callMethod` refuses a method name that is not a plain dotted name.
 */

const KEY = '__proto__';
/** Frames nest no deeper than this in practice; past it the walk stops (the frame size bounds it anyway). */
const MAX_DEPTH = 256;

/**
 * Cheap gate on the raw text: a frame that contains neither the key nor a
 * `\u` escape (`"\u005f_proto__"` parses to the same key) cannot hold one.
 */
export function mayHavePrototypeKey(text: string): boolean {
  return text.includes(KEY) || text.includes('\\u');
}

/** Where in `value` an own `__proto__` key is (`params.input.json.a`), or undefined if nowhere. */
export function prototypeKeyPath(value: unknown, path = '', depth = 0): string | undefined {
  if (value === null || typeof value !== 'object' || depth > MAX_DEPTH) return undefined;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = prototypeKeyPath(value[i], `${path}[${i}]`, depth + 1);
      if (found !== undefined) return found;
    }
    return undefined;
  }
  if (Object.hasOwn(value, KEY)) return path ? `${path}.${KEY}` : KEY;
  for (const key of Object.keys(value)) {
    const found = prototypeKeyPath(
      (value as Record<string, unknown>)[key],
      path ? `${path}.${key}` : key,
      depth + 1,
    );
    if (found !== undefined) return found;
  }
  return undefined;
}
