import fc from 'fast-check';
import superjson from 'superjson';
import { describe, expect, it } from 'vitest';
import { fastTransformer, isPlainJson, whyNotPlainJson } from '../src/wire-transformer.js';

const { serialize, deserialize } = fastTransformer.input;

/** What actually crosses the socket. */
const wire = (value: unknown) => JSON.parse(JSON.stringify(value)) as unknown;

/** Values without shared references (superjson annotates those; see isPlainJson). */
const values = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.string(),
    fc.boolean(),
    fc.constant(null),
    fc.constant(undefined),
    fc.double(),
    fc.integer(),
    fc.bigInt(),
    fc.date({ noInvalidDate: true }),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(fc.string({ maxLength: 6 }), tie('value'), { maxKeys: 4 }),
  ),
})).value;

describe('fastTransformer', () => {
  it('writes exactly what superjson writes', () => {
    fc.assert(
      fc.property(values, (value) => {
        expect(wire(serialize(value))).toEqual(wire(superjson.serialize(value)));
      }),
      { numRuns: 500 },
    );
  });

  it('reads what superjson writes, and superjson reads what it writes', () => {
    fc.assert(
      fc.property(values, (value) => {
        expect(deserialize(wire(superjson.serialize(value)))).toEqual(value);
        expect(superjson.deserialize(wire(serialize(value)) as never)).toEqual(value);
      }),
      { numRuns: 500 },
    );
  });

  it('takes the plain-JSON fast path only for values JSON keeps unchanged', () => {
    expect(isPlainJson({ a: [1, 'x', null, { b: true }] })).toBe(true);
    expect(isPlainJson({ a: undefined })).toBe(false);
    expect(isPlainJson(new Array(3))).toBe(false); // holes: JSON would write null
    expect(isPlainJson(-0)).toBe(false);
    expect(isPlainJson(Number.NaN)).toBe(false);
    expect(isPlainJson(new Date())).toBe(false);
    expect(isPlainJson(new (class Point {})())).toBe(false);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(isPlainJson(cyclic)).toBe(false); // too deep: left to superjson, which handles cycles
  });

  it('names the first value JSON cannot carry, by path, and lets undefined properties and -0 through', () => {
    expect(whyNotPlainJson({ a: undefined, b: [-0, { c: undefined }] }, 'p')).toBeUndefined();
    expect(whyNotPlainJson({ a: [1, new (class Point {})()] }, 'p')).toBe('p.a[1] is a Point');
    expect(whyNotPlainJson({ a: Object.create({}) }, 'p')).toBe(
      'p.a is an object with a custom prototype',
    );
    expect(whyNotPlainJson({ f: () => 1 }, 'p')).toBe('p.f is a function');
    expect(whyNotPlainJson({ s: Symbol('x') }, 'p')).toBe('p.s is a symbol');
    expect(whyNotPlainJson({ x: Number.NEGATIVE_INFINITY }, 'p')).toBe('p.x is -Infinity');
    expect(whyNotPlainJson(new Array(2), 'p')).toBe('p[0] is missing (a hole in the array)');
    expect(whyNotPlainJson({ 'a.b': { $ok: new Map() } }, 'p')).toBe('p["a.b"].$ok is a Map');
    const cyclic: Record<string, unknown> = { list: [] };
    (cyclic.list as unknown[]).push(cyclic);
    expect(whyNotPlainJson(cyclic, 'p')).toBe('p.list[0] is a cycle (it contains itself)');
    const shared = { same: true };
    expect(whyNotPlainJson({ a: shared, b: shared, c: undefined }, 'p')).toBeUndefined();
  });

  it('serializes undefined input (calls without arguments) like superjson', () => {
    expect(wire(serialize(undefined))).toEqual(wire(superjson.serialize(undefined)));
    expect(deserialize(wire(serialize(undefined)))).toBeUndefined();
  });
});
