import { fastTransformer } from '@loopgate/protocol';
import fc from 'fast-check';
import superjson from 'superjson';
import { describe, expect, it } from 'vitest';
import {
  dataFrame,
  FanOutJson,
  plainJsonText,
  trackedDataFrame,
} from '../src/transport/data-frames.js';
import { prototypeKeyPath } from '../src/transport/prototype-keys.js';

const ids = fc.oneof(fc.integer({ min: 0, max: 2 ** 31 }), fc.string({ maxLength: 12 }));
const jsonrpc = fc.constantFrom<'2.0' | undefined>(undefined, '2.0');
/**
 * Values as a procedure returns them: JSON as it reads back (so no -0, which
 * the transformer annotates; that case is checked below), and no `__proto__`
 * key, which the gateway refuses in every input (prototype-keys.test.ts), so
 * none reaches an output; superjson would drop it on the way back.
 */
const plainValues = fc
  .jsonValue()
  .map((value) => JSON.parse(JSON.stringify(value)) as unknown)
  .filter((value) => prototypeKeyPath(value) === undefined);

/** What the adapter sent before the text fast path: the envelope objects, transformed, stringified. */
function objectFrame(
  id: number | string,
  rpc: '2.0' | undefined,
  value: unknown,
  trackedId?: string,
): string {
  const serialize = fastTransformer.output.serialize;
  return JSON.stringify(
    trackedId === undefined
      ? { id, jsonrpc: rpc, result: { type: 'data', data: serialize(value) } }
      : {
          id,
          jsonrpc: rpc,
          result: { type: 'data', id: trackedId, data: serialize({ id: trackedId, data: value }) },
        },
  );
}

describe('data frames written as text', () => {
  it('are byte for byte the stringified envelope for any plain JSON value', () => {
    fc.assert(
      fc.property(ids, jsonrpc, plainValues, (id, rpc, value) => {
        const text = plainJsonText(value);
        expect(text).toBeDefined();
        expect(dataFrame(id, rpc, text as string)).toBe(objectFrame(id, rpc, value));
      }),
    );
  });

  it('are byte for byte the stringified tracked envelope, which superjson reads back', () => {
    fc.assert(
      fc.property(ids, jsonrpc, fc.string(), plainValues, (id, rpc, trackedId, value) => {
        const text = plainJsonText(value);
        expect(text).toBeDefined();
        const frame = trackedDataFrame(id, rpc, trackedId, text as string);
        expect(frame).toBe(objectFrame(id, rpc, value, trackedId));
        const parsed = JSON.parse(frame) as {
          result: { data: Parameters<typeof superjson.deserialize>[0] };
        };
        expect(superjson.deserialize(parsed.result.data)).toEqual({ id: trackedId, data: value });
      }),
    );
  });

  it('leave values the transformer must annotate to the transformer', () => {
    for (const value of [
      undefined,
      Number.NaN,
      -0,
      new Date(0),
      new Map(),
      { at: new Date(0) },
      [1, undefined],
      10n,
    ]) {
      expect(plainJsonText(value)).toBeUndefined();
    }
  });
});

describe('prototypeKeyPath', () => {
  it('finds an own "__proto__" key at any depth, escaped or not, and nothing else', () => {
    expect(prototypeKeyPath(JSON.parse('{"a":[1,{"__proto__":{}}]}'))).toBe('a[1].__proto__');
    expect(prototypeKeyPath(JSON.parse('{"\\u005f_proto__":1}'))).toBe('__proto__');
    expect(prototypeKeyPath(JSON.parse('{"name":"__proto__","proto":{"x":1}}'))).toBeUndefined();
    expect(prototypeKeyPath({ constructor: 1 })).toBeUndefined();
  });
});

describe('FanOutJson', () => {
  it('stringifies an object once per tick for every subscriber it goes to', () => {
    const fanOut = new FanOutJson();
    const event = { type: 'channel.message', peer: 'p' };
    let walks = 0;
    const watched = new Proxy(event, {
      ownKeys(target) {
        walks++;
        return Reflect.ownKeys(target);
      },
    });
    const first = fanOut.textOf(watched, '7');
    const walksAfterFirst = walks;
    for (let i = 0; i < 9; i++) expect(fanOut.textOf(watched, '7')).toBe(first);
    expect(walks).toBe(walksAfterFirst);
  });

  it('never serves a value mutated since, under a new tracked id or in a later tick', async () => {
    const fanOut = new FanOutJson();
    const state = { n: 1 };
    expect(fanOut.textOf(state, '1')).toBe('{"n":1}');
    state.n = 2;
    expect(fanOut.textOf(state, '2')).toBe('{"n":2}');
    state.n = 3;
    await new Promise((resolve) => process.nextTick(resolve));
    expect(fanOut.textOf(state, '2')).toBe('{"n":3}');
  });
});
