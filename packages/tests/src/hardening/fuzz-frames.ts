import fc from 'fast-check';

/**
 * What a hostile or broken peer may put in a WebSocket message, as
 * fast-check arbitraries: random text and bytes, random JSON, frames shaped
 * like tRPC requests with wrong or random fields, batches, and byte-level
 * mutations of well-formed requests.
 */
export type FuzzFrame = { kind: 'text'; data: string } | { kind: 'binary'; data: Uint8Array };

/**
 * Procedures the fuzzer may aim at. Deliberately read-only: a well-formed
 * call to `auth.rotateToken` or `nodes.pair.remove` is not an attack, it is
 * an operator's right, and would only disconnect the fuzzer.
 */
export const FUZZ_PATHS = [
  'health',
  'status',
  'callMethod',
  'events',
  'nodes.list',
  'nodes.describe',
  'nodes.invoke',
  'sessions.list',
  'sessions.history',
] as const;

const anyJson = fc.jsonValue({ maxDepth: 4 });
const hostileString = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.constantFrom(
    '',
    ' ',
    '\u0000',
    '__proto__',
    'constructor',
    'toString',
    '../../etc/passwd',
    '%s%s%n',
    '\ud800',
    'PING',
    'PONG',
  ),
  fc.nat({ max: 5_000 }).map((n) => 'x'.repeat(n)),
);
const id = fc.oneof(fc.integer(), fc.nat(), hostileString, fc.constant(null), fc.double(), anyJson);
const method = fc.oneof(
  fc.constantFrom('query', 'mutation', 'subscription', 'subscription.stop', 'connectionParams'),
  hostileString,
);
const path = fc.oneof(
  fc.constantFrom(...FUZZ_PATHS),
  hostileString,
  fc.constantFrom('callMethod.callMethod', 'nodes', '', '.'),
);
/** superjson annotations as a sender writes them, naming real and unknown types at random paths (row 72). */
const transformation = fc.oneof(
  fc.constantFrom(
    'undefined',
    'bigint',
    'Date',
    'regexp',
    'set',
    'map',
    'Error',
    'number',
    'bogus',
  ),
  fc.tuple(fc.constantFrom('class', 'symbol', 'custom', 'typed-array'), hostileString),
);
const annotations = fc.oneof(
  fc.array(transformation, { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 8 }), fc.array(transformation, { maxLength: 3 }), {
    maxKeys: 3,
  }),
);
const superjsonMeta = fc.record(
  {
    values: annotations,
    referentialEqualities: fc.oneof(
      fc.array(fc.string({ maxLength: 8 }), { maxLength: 3 }),
      fc.dictionary(fc.string({ maxLength: 8 }), fc.array(fc.string({ maxLength: 8 }))),
    ),
  },
  { requiredKeys: [] },
);
const input = fc.oneof(
  fc.record({ json: anyJson }),
  fc.record({ json: anyJson, meta: anyJson }),
  fc.record({ json: anyJson, meta: superjsonMeta }),
  fc.record({
    json: fc.record({
      method: fc.oneof(fc.constantFrom(...FUZZ_PATHS), hostileString),
      params: anyJson,
    }),
  }),
  anyJson,
  fc.constant(undefined),
);
const params = fc.oneof(
  fc.record({ path, input }, { requiredKeys: [] }),
  fc.record(
    { path, input, lastEventId: fc.oneof(hostileString, fc.integer(), fc.constant(null)) },
    { requiredKeys: ['path'] },
  ),
  anyJson,
);
const requestShaped = fc.record(
  { id, method, params, jsonrpc: fc.oneof(fc.constant('2.0'), hostileString) },
  { requiredKeys: [] },
);

/** A well-formed request, to mutate. */
const wellFormed = fc
  .record({
    id: fc.nat(),
    path: fc.constantFrom('health', 'status', 'nodes.list'),
    method: fc.constantFrom('query', 'mutation', 'subscription'),
  })
  .map((r) =>
    JSON.stringify({ id: r.id, method: r.method, params: { path: r.path, input: { json: null } } }),
  );

/** Byte-level damage: flip, cut, duplicate, splice in garbage, nest. */
const mutated = fc
  .tuple(
    wellFormed,
    fc.array(fc.tuple(fc.nat(), fc.nat({ max: 6 }), fc.string({ maxLength: 8 })), {
      minLength: 1,
      maxLength: 6,
    }),
  )
  .map(([text, edits]) => {
    let out = text;
    for (const [at, op, garbage] of edits) {
      const i = out.length === 0 ? 0 : at % out.length;
      if (op === 0) out = out.slice(0, i) + garbage + out.slice(i + 1);
      else if (op === 1) out = out.slice(0, i);
      else if (op === 2) out = out.slice(0, i) + out.slice(i, i + 20) + out.slice(i);
      else if (op === 3) out = `${out.slice(0, i)}${garbage}${out.slice(i)}`;
      else if (op === 4) out = `[${out},${out}]`;
      else if (op === 5) out = `{"id":1,"method":"query","params":${out}}`;
      else out = out.replace(/"(\w+)":/, `"${garbage}":`);
    }
    return out;
  });

export const fuzzFrame: fc.Arbitrary<FuzzFrame> = fc.oneof(
  {
    weight: 2,
    arbitrary: fc.string({ maxLength: 200 }).map((data) => ({ kind: 'text' as const, data })),
  },
  {
    weight: 1,
    arbitrary: fc.uint8Array({ maxLength: 200 }).map((data) => ({ kind: 'binary' as const, data })),
  },
  {
    weight: 2,
    arbitrary: anyJson.map((v) => ({ kind: 'text' as const, data: JSON.stringify(v) ?? 'null' })),
  },
  {
    weight: 5,
    arbitrary: requestShaped.map((v) => ({ kind: 'text' as const, data: JSON.stringify(v) })),
  },
  {
    weight: 2,
    arbitrary: fc
      .array(fc.oneof(requestShaped, anyJson), { maxLength: 80 })
      .map((v) => ({ kind: 'text' as const, data: JSON.stringify(v) })),
  },
  { weight: 4, arbitrary: mutated.map((data) => ({ kind: 'text' as const, data })) },
  {
    weight: 1,
    arbitrary: fc.nat({ max: 3_000 }).map((depth) => ({
      kind: 'text' as const,
      data: `{"id":1,"method":"query","params":{"path":"status","input":{"json":${'['.repeat(depth)}${']'.repeat(depth)}}}}`,
    })),
  },
);

/** A short burst of frames, as one peer might send them back to back. */
export const fuzzBurst = fc.array(fuzzFrame, { minLength: 10, maxLength: 30 });
