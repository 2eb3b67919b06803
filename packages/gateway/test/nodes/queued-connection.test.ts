import type { NodeInvocationMessage } from '@loopgate/protocol';
import { describe, expect, it } from 'vitest';
import { type QueuedMessage, QueuedNodeConnection } from '../../src/nodes/queued-connection.js';

const cancel = (invocationId: string): NodeInvocationMessage => ({
  kind: 'cancel',
  invocationId,
  reason: 'cancelled',
});

/** What one step of the stream handed over. */
function taken(step: IteratorResult<QueuedMessage[], unknown>): QueuedMessage[] {
  expect(step.done).toBe(false);
  return step.value as QueuedMessage[];
}

function connection() {
  return new QueuedNodeConnection({ connectionId: 'c1', nodeId: 'nd_1', close: () => {} });
}

describe('QueuedNodeConnection', () => {
  it('hands over everything queued as one batch, in order, and waits for more', async () => {
    const conn = connection();
    conn.send(cancel('inv_1'), '{"a":1}');
    conn.send(cancel('inv_2'));
    conn.send(cancel('inv_3'));
    const batches = conn.batches();
    const first = taken(await batches.next());
    expect(first.map((q) => q.message.invocationId)).toEqual(['inv_1', 'inv_2', 'inv_3']);
    expect(first[0]?.json).toBe('{"a":1}');

    const second = batches.next();
    conn.send(cancel('inv_4'));
    expect(taken(await second).map((q) => q.message.invocationId)).toEqual(['inv_4']);
  });

  it('ends the stream on end(), drops what was not taken, and refuses later sends', async () => {
    const conn = connection();
    const batches = conn.batches();
    const waiting = batches.next();
    conn.end();
    expect((await waiting).done).toBe(true);
    expect(() => conn.send(cancel('inv_5'))).toThrow(/ended/);

    const dropped = connection();
    dropped.send(cancel('inv_6'));
    dropped.end();
    expect((await dropped.batches().next()).done).toBe(true);
  });
});
