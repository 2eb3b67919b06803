/**
 * A `__proto__` key in a peer's input: JSON.parse keeps it as an own key,
 * superjson drops it and the first object spread turns it into a prototype.
 * The gateway refuses it with BAD_REQUEST naming where it was, and keeps
 * serving the socket. A fixed seed replays the same cases on every run;
 * the random run looks further each time (its seed is printed on failure).
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type OperatorSocket, openOperatorSocket, resultData } from '../../src/hardening/index.js';
import { startTestGateway, type TestGateway } from '../../src/index.js';

let gw: TestGateway;
let op: OperatorSocket;
beforeAll(async () => {
  gw = await startTestGateway();
  op = await openOperatorSocket(gw.url, gw.token);
});
afterAll(async () => {
  op.ws.close();
  await gw.stop();
});

/** Sends `{ method: 'health', params }` through callMethod as raw text and returns the answer. */
let nextId = 1;
async function callWithParams(paramsJson: string) {
  const id = nextId++;
  op.ws.send(
    `{"id":${id},"method":"mutation","params":{"path":"callMethod","input":{"json":{"method":"health","params":${paramsJson}}}}}`,
  );
  return op.answerTo(id);
}

/** JSON text of `{ wrapper: value }` with a `"__proto__"` key (escaped or not) holding `payload` put first. */
function withPrototypeKey(value: unknown, payload: string, escaped: boolean): string {
  const key = escaped ? '"\\u005f_proto__"' : '"__proto__"';
  const text = JSON.stringify({ wrapper: value });
  // The wrapper object always exists, so every generated value gets the key somewhere.
  // A function, not a string: `$'` in the payload would be a replacement pattern.
  return text.replace(/^\{/, () => `{${key}:${payload},`);
}

const nested = fc.jsonValue({ maxDepth: 3 });

describe('row 04: a "__proto__" key in input', () => {
  it('is refused with BAD_REQUEST naming where it was, at any depth, and the socket keeps serving', async () => {
    const answer = await callWithParams('{"a":[1,{"b":{"__proto__":{"admin":true}}}]}');
    expect(answer.error?.json.data.gatewayCode).toBe('BAD_REQUEST');
    expect(answer.error?.json.message).toMatch(
      /"__proto__" key is not accepted \(at params\.input\.json\.params\.a\[1\]\.b\.__proto__\)/,
    );
    const escaped = await callWithParams('{"\\u005f_proto__":{"admin":true}}');
    expect(escaped.error?.json.data.gatewayCode).toBe('BAD_REQUEST');
    // The same socket still answers; nothing leaked onto Object.prototype here either.
    expect(resultData<{ ok: boolean }>(await op.call(nextId++, 'health')).ok).toBe(true);
    expect(({} as Record<string, unknown>).admin).toBeUndefined();
  });

  it('a string value "__proto__" (not a key) passes', async () => {
    const answer = await callWithParams('{"name":"__proto__","list":["__proto__"]}');
    expect(answer.error).toBeUndefined();
    expect(resultData<{ ok: boolean }>(answer).ok).toBe(true);
  });

  const property = fc.asyncProperty(
    nested,
    nested,
    fc.boolean(),
    async (value, payload, escaped) => {
      const answer = await callWithParams(
        withPrototypeKey(value, JSON.stringify(payload), escaped),
      );
      expect(answer.error?.json.data.gatewayCode).toBe('BAD_REQUEST');
      expect(answer.error?.json.message).toMatch(/"__proto__" key is not accepted/);
    },
  );

  it('is refused for generated values: a fixed seed (the same cases every run)', async () => {
    await fc.assert(property, { seed: 20_261_203, numRuns: 100 });
  });

  it('is refused for generated values: a random seed (printed when it fails)', async () => {
    await fc.assert(property, { numRuns: 100 });
  });
});
