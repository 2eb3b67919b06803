import { GatewayError, type InvocationPhase } from '@loopgate/protocol';
import { describe, expect, it } from 'vitest';
import {
  advanceInvocation,
  classifyNodeResult,
  type InvocationEvent,
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

  it('passes a well-formed payload through', () => {
    expect(classifyNodeResult({ invocationId: 'i', ok: true, payload: { a: 1 } }, ctx)).toEqual({
      ok: true,
      payload: { a: 1 },
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
