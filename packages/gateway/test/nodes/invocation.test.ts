import { GatewayError, type InvocationPhase } from '@loopgate/protocol';
import { describe, expect, it } from 'vitest';
import {
  advanceInvocation,
  classifyNodeResult,
  type InvocationEvent,
  MAX_RESULT_DEPTH,
  measureJson,
} from '../../src/nodes/invocation.js';

const events: InvocationEvent['type'][] = [
  'delivered',
  'result',
  'timeout',
  'disconnected',
  'cancelled',
];
const terminal: InvocationPhase[] = ['done', 'timeout', 'disconnected', 'cancelled'];

describe('invocation lifecycle', () => {
  it('goes pending → delivered → done on a result', () => {
    const delivered = advanceInvocation('pending', { type: 'delivered' });
    expect(delivered).toMatchObject({ phase: 'delivered', changed: true });
    expect(advanceInvocation(delivered.phase, { type: 'result' })).toMatchObject({
      phase: 'done',
      changed: true,
      mayHaveRun: true,
    });
  });

  it('ignores every event once terminal (late results, a close after the result)', () => {
    for (const phase of terminal) {
      for (const type of events) {
        const step = advanceInvocation(phase, { type } as InvocationEvent);
        expect(step, `${phase} + ${type}`).toMatchObject({ phase, changed: false });
        expect(step.sendCancel).toBeUndefined();
      }
    }
  });

  it('tells the node to cancel only when it had the invocation', () => {
    expect(advanceInvocation('delivered', { type: 'timeout' }).sendCancel).toBe('timeout');
    expect(advanceInvocation('delivered', { type: 'cancelled' }).sendCancel).toBe('cancelled');
    expect(advanceInvocation('pending', { type: 'timeout' }).sendCancel).toBeUndefined();
    expect(advanceInvocation('pending', { type: 'cancelled' }).sendCancel).toBeUndefined();
    expect(advanceInvocation('delivered', { type: 'disconnected' }).sendCancel).toBeUndefined();
  });

  it('remembers outcomes for idempotency only when the command may have run', () => {
    expect(advanceInvocation('pending', { type: 'disconnected' }).mayHaveRun).toBe(false);
    expect(advanceInvocation('pending', { type: 'timeout' }).mayHaveRun).toBe(false);
    expect(advanceInvocation('delivered', { type: 'disconnected' }).mayHaveRun).toBe(true);
    expect(advanceInvocation('delivered', { type: 'timeout' }).mayHaveRun).toBe(true);
  });

  it('does not accept a result for an invocation that was never delivered', () => {
    expect(advanceInvocation('pending', { type: 'result' })).toMatchObject({
      phase: 'pending',
      changed: false,
    });
  });
});

describe('classifyNodeResult', () => {
  const ctx = { nodeName: 'box', command: 'system.info', maxResultBytes: 64 };

  it('passes a well-formed payload through, with its JSON size', () => {
    expect(classifyNodeResult({ invocationId: 'i', ok: true, payload: { a: 1 } }, ctx)).toEqual({
      ok: true,
      payload: { a: 1 },
      bytes: 7,
    });
  });

  it('turns garbage into INVALID_RESULT naming what was wrong', () => {
    for (const raw of [
      { invocationId: 'i' },
      { invocationId: 'i', ok: 'yes' },
      { invocationId: 'i', ok: false, error: 'boom' },
      { invocationId: 'i', ok: false, error: { code: 'has spaces', message: 'x' } },
    ]) {
      const outcome = classifyNodeResult(raw, ctx);
      expect(outcome.ok).toBe(false);
      if (!outcome.ok) {
        expect(outcome.error.code).toBe('INVALID_RESULT');
        expect(outcome.error.message).toContain('node "box"');
        expect(outcome.error.details?.issues).toBeInstanceOf(Array);
      }
    }
  });

  it('refuses payloads over maxResultBytes with PAYLOAD_TOO_LARGE', () => {
    const outcome = classifyNodeResult(
      { invocationId: 'i', ok: true, payload: 'x'.repeat(100) },
      ctx,
    );
    expect(outcome.ok).toBe(false);
    if (!outcome.ok) {
      expect(outcome.error.code).toBe('PAYLOAD_TOO_LARGE');
      expect(outcome.error.details).toMatchObject({ limit: 64 });
    }
  });

  it('maps node error codes: well-known ones pass through, the rest become COMMAND_FAILED', () => {
    const notFound = classifyNodeResult(
      { invocationId: 'i', ok: false, error: { code: 'NOT_FOUND', message: 'no such file' } },
      ctx,
    );
    const custom = classifyNodeResult(
      {
        invocationId: 'i',
        ok: false,
        error: { code: 'EDISK', message: 'disk on fire', details: { n: 1 } },
      },
      ctx,
    );
    expect(!notFound.ok && notFound.error).toBeInstanceOf(GatewayError);
    expect(!notFound.ok && notFound.error.code).toBe('NOT_FOUND');
    expect(!custom.ok && custom.error.code).toBe('COMMAND_FAILED');
    expect(!custom.ok && custom.error.details).toEqual({
      nodeCode: 'EDISK',
      nodeDetails: { n: 1 },
    });
    expect(!custom.ok && custom.error.message).toContain('disk on fire');
  });
});

describe('measureJson (row 27)', () => {
  it('counts exactly the UTF-8 bytes JSON.stringify would write', () => {
    const values: unknown[] = [
      [],
      {},
      '',
      0,
      -1.5e300,
      [1, 'a', null, true, false, undefined, Number.NaN],
      { a: { b: [1, 2, { c: 'é"\\\n\t\u0001€😀' }] }, skipped: undefined, e: 12.25 },
      Object.assign(Object.create(null) as object, { k: [[], {}] }),
    ];
    for (const value of values)
      expect(measureJson(value, 1e6), JSON.stringify(value)).toBe(
        Buffer.byteLength(JSON.stringify(value), 'utf8'),
      );
  });

  it('stops at the limit: a 2^40-leaf DAG of shared arrays is refused after ~limit bytes of work', () => {
    // Every array reads through a counter: the work is counted, not timed.
    let reads = 0;
    const counted = (array: unknown[]): unknown[] =>
      new Proxy(array, {
        get(target, key, receiver) {
          reads++;
          return Reflect.get(target, key, receiver);
        },
      });
    let dag: unknown = counted([1, 2, 3]);
    for (let i = 0; i < 40; i++) {
      const child = dag;
      dag = counted([child, child]);
    }
    expect(measureJson(dag, 64 * 1024)).toBe('over-limit');
    // Unbounded, the walk reads ~2^42 times (hours); bounded, each read adds at least a byte.
    expect(reads).toBeGreaterThan(0);
    expect(reads).toBeLessThan(4 * 64 * 1024);
    expect(measureJson('x'.repeat(100), 64)).toBe('over-limit');
  });

  it('refuses what JSON cannot carry as is, and nesting deeper than MAX_RESULT_DEPTH', () => {
    expect(measureJson({ n: 1n }, 1e6)).toBe('not-json');
    expect(measureJson([new Date(0)], 1e6)).toBe('not-json');
    expect(measureJson({ f: () => 1 }, 1e6)).toBe('not-json');
    let deep: unknown = 1;
    for (let i = 0; i < MAX_RESULT_DEPTH; i++) deep = [deep];
    expect(measureJson(deep, 1e6)).toBe(1 + 2 * MAX_RESULT_DEPTH);
    expect(measureJson([deep], 1e6)).toBe('too-deep');
  });

  it('classifies a result with oversized error details as INVALID_RESULT', () => {
    const outcome = classifyNodeResult(
      {
        invocationId: 'i',
        ok: false,
        error: { code: 'EDISK', message: 'x', details: { blob: 'y'.repeat(100) } },
      },
      { nodeName: 'box', command: 'system.info', maxResultBytes: 64 },
    );
    expect(!outcome.ok && outcome.error.code).toBe('INVALID_RESULT');
    expect(!outcome.ok && outcome.error.message).toMatch(/error details.*maxResultBytes/);
  });
});

describe('invocation lifecycle, every step', () => {
  it('answers exactly this table for every phase and event', () => {
    const table: Record<string, Record<string, unknown>> = {};
    for (const phase of ['pending', 'delivered', ...terminal] as InvocationPhase[])
      for (const type of events)
        table[`${phase} + ${type}`] = advanceInvocation(phase, { type } as InvocationEvent);
    const same = (phase: string, mayHaveRun: boolean) => ({ phase, changed: false, mayHaveRun });
    expect(table).toEqual({
      'pending + delivered': { phase: 'delivered', changed: true, mayHaveRun: true },
      'pending + result': same('pending', false),
      'pending + timeout': { phase: 'timeout', changed: true, mayHaveRun: false },
      'pending + disconnected': { phase: 'disconnected', changed: true, mayHaveRun: false },
      'pending + cancelled': { phase: 'cancelled', changed: true, mayHaveRun: false },
      'delivered + delivered': same('delivered', true),
      'delivered + result': { phase: 'done', changed: true, mayHaveRun: true },
      'delivered + timeout': {
        phase: 'timeout',
        changed: true,
        mayHaveRun: true,
        sendCancel: 'timeout',
      },
      'delivered + disconnected': { phase: 'disconnected', changed: true, mayHaveRun: true },
      'delivered + cancelled': {
        phase: 'cancelled',
        changed: true,
        mayHaveRun: true,
        sendCancel: 'cancelled',
      },
      ...Object.fromEntries(
        terminal.flatMap((phase) =>
          events.map((type) => [`${phase} + ${type}`, same(phase, true)]),
        ),
      ),
    });
  });
});

describe('classifyNodeResult, every refusal', () => {
  const ctx = { nodeName: 'box', command: 'system.info', maxResultBytes: 64 };
  const failed = (outcome: ReturnType<typeof classifyNodeResult>) => {
    if (outcome.ok) throw new Error('expected a failure');
    return {
      code: outcome.error.code,
      message: outcome.error.message,
      details: outcome.error.details,
    };
  };

  it('names at most five malformed fields, the root as (result)', () => {
    expect(failed(classifyNodeResult('nonsense', ctx))).toEqual({
      code: 'INVALID_RESULT',
      message: 'node "box" (system.info) returned a malformed result',
      details: { issues: [expect.stringMatching(/^\(result\): /)] },
    });
    const many = failed(
      classifyNodeResult({ invocationId: 1, ok: false, error: { code: 2, message: 3 } }, ctx),
    );
    expect(many.details?.issues).toEqual([
      'invocationId: Invalid input: expected string, received number',
      'error.code: Invalid input: expected string, received number',
      'error.message: Invalid input: expected string, received number',
    ]);
    const issues = many.details?.issues as string[];
    expect(issues.length).toBeGreaterThan(0);
    expect(issues.length).toBeLessThanOrEqual(5);
    expect(issues.every((i) => /^[\w.()]+: ./.test(i))).toBe(true);
  });

  it('says which way a payload is unfit: too large, not plain JSON, too deep', () => {
    expect(
      failed(classifyNodeResult({ invocationId: 'i', ok: true, payload: 'y'.repeat(100) }, ctx)),
    ).toEqual({
      code: 'PAYLOAD_TOO_LARGE',
      message:
        'node "box" (system.info) returned more than gateway.nodes.maxResultBytes (64 bytes)',
      details: { limit: 64 },
    });
    expect(
      failed(classifyNodeResult({ invocationId: 'i', ok: true, payload: { n: 1n } }, ctx)),
    ).toEqual({
      code: 'INVALID_RESULT',
      message: 'node "box" (system.info) returned a payload that is not plain JSON',
      details: undefined,
    });
    let deep: unknown = 1;
    for (let i = 0; i <= MAX_RESULT_DEPTH; i++) deep = [deep];
    expect(
      failed(
        classifyNodeResult(
          { invocationId: 'i', ok: true, payload: deep },
          { ...ctx, maxResultBytes: 1e6 },
        ),
      ),
    ).toEqual({
      code: 'INVALID_RESULT',
      message: `node "box" (system.info) returned a payload that is nested deeper than ${MAX_RESULT_DEPTH} levels`,
      details: undefined,
    });
  });

  it('says which way error details are unfit, and takes an error without details under any limit', () => {
    const withDetails = (details: unknown, maxResultBytes = 64) =>
      failed(
        classifyNodeResult(
          { invocationId: 'i', ok: false, error: { code: 'EDISK', message: 'x', details } },
          { ...ctx, maxResultBytes },
        ),
      );
    expect(withDetails({ blob: 'y'.repeat(100) })).toEqual({
      code: 'INVALID_RESULT',
      message:
        'node "box" (system.info) failed with error details that are over gateway.nodes.maxResultBytes (64 bytes)',
      details: { nodeCode: 'EDISK', limit: 64 },
    });
    expect(withDetails({ when: new Date(0) }).message).toBe(
      'node "box" (system.info) failed with error details that are not plain JSON',
    );
    const bare = failed(
      classifyNodeResult(
        { invocationId: 'i', ok: false, error: { code: 'EDISK', message: 'disk on fire' } },
        { ...ctx, maxResultBytes: 2 },
      ),
    );
    expect(bare).toEqual({
      code: 'COMMAND_FAILED',
      message: 'node "box" (system.info) failed: disk on fire',
      details: { nodeCode: 'EDISK' },
    });
  });
});

describe('measureJson, exactly at the limit', () => {
  it('a value exactly as large as the limit fits; one byte more does not', () => {
    for (const value of [
      'abcdef',
      [1, 22, 333],
      { a: 1, bb: [true, null] },
      [{ k: 'v' }, [], {}],
    ]) {
      const size = Buffer.byteLength(JSON.stringify(value), 'utf8');
      expect(measureJson(value, size), JSON.stringify(value)).toBe(size);
      expect(measureJson(value, size - 1), JSON.stringify(value)).toBe('over-limit');
    }
  });

  it('keeps the first problem found: a later fine value does not clear it', () => {
    expect(measureJson([1n, 2], 1e6)).toBe('not-json');
    expect(measureJson({ a: 1n, b: 2 }, 1e6)).toBe('not-json');
    expect(measureJson([{ a: 1 }, 1n], 1e6)).toBe('not-json');
    expect(measureJson([{ a: 1 }, () => 1], 1e6)).toBe('not-json');
  });

  it('counts every escape JSON writes, and a space as itself', () => {
    for (const text of ['\b\f\r', '\u001f\u0000', 'a b', '"\\\t\n'])
      expect(measureJson(text, 1e6), JSON.stringify(text)).toBe(
        Buffer.byteLength(JSON.stringify(text), 'utf8'),
      );
  });
});
