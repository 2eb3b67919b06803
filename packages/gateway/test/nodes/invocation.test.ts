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
    let dag: unknown = [1, 2, 3];
    for (let i = 0; i < 40; i++) dag = [dag, dag];
    const started = performance.now();
    expect(measureJson(dag, 64 * 1024)).toBe('over-limit');
    // Unbounded, the walk would take hours; bounded, it takes well under 50 ms (under 5 s in
    // `pnpm mutation`, whose instrumented code runs ~20× slower).
    expect(performance.now() - started).toBeLessThan(
      process.env.LOOPGATE_MUTATION_RUN === '1' ? 5_000 : 50,
    );
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
