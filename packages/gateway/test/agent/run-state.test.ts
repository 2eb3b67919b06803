import type { AgentRunEvent, TranscriptEntry } from '@loopgate/protocol';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  chatMessagesFromTranscript,
  nextRunState,
  RunEventHub,
  SessionRunQueue,
} from '../../src/agent/index.js';

describe('run lifecycle', () => {
  it('allows only the documented transitions', () => {
    expect(nextRunState('queued', 'start')).toBe('running');
    expect(nextRunState('queued', 'cancel')).toBe('cancelled');
    expect(nextRunState('queued', 'complete')).toBeUndefined();
    expect(nextRunState('running', 'complete')).toBe('completed');
    expect(nextRunState('running', 'fail')).toBe('failed');
    expect(nextRunState('running', 'cancel')).toBe('cancelled');
    for (const done of ['completed', 'failed', 'cancelled'] as const) {
      for (const t of ['start', 'complete', 'fail', 'cancel'] as const)
        expect(nextRunState(done, t)).toBeUndefined();
    }
  });
});

describe('SessionRunQueue', () => {
  it('runs one at a time per session, in arrival order, sessions independent', () => {
    const q = new SessionRunQueue(4);
    expect(q.enqueue('a', 'r1')).toEqual({ start: true });
    expect(q.enqueue('a', 'r2')).toEqual({ start: false, position: 1 });
    expect(q.enqueue('a', 'r3')).toEqual({ start: false, position: 2 });
    expect(q.enqueue('b', 'r4')).toEqual({ start: true });
    expect(q.activeCount).toBe(2);
    expect(q.positionOf('a', 'r3')).toBe(2);
    expect(q.finish('a', 'r1')).toBe('r2');
    expect(q.activeRun('a')).toBe('r2');
    expect(q.positionOf('a', 'r3')).toBe(1);
    expect(q.finish('a', 'r2')).toBe('r3');
    expect(q.finish('a', 'r3')).toBeUndefined();
    expect(q.activeRun('a')).toBeUndefined();
    expect(q.activeCount).toBe(1);
  });

  it('withdraws a waiting run and refuses when the line is full', () => {
    const q = new SessionRunQueue(2);
    q.enqueue('a', 'r1');
    q.enqueue('a', 'r2');
    q.enqueue('a', 'r3');
    expect(() => q.enqueue('a', 'r4')).toThrow(/already has 2 runs waiting/);
    expect(q.withdraw('a', 'r2')).toBe(true);
    expect(q.withdraw('a', 'r2')).toBe(false);
    expect(q.withdraw('a', 'r1')).toBe(false); // active, not waiting
    expect(q.finish('a', 'r1')).toBe('r3');
    expect(q.finish('a', 'r2')).toBeUndefined(); // not the active one: no effect
    expect(q.activeRun('a')).toBe('r3');
  });

  it('never has two active runs in a session, whatever the order of operations', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(
            fc.constantFrom('enqueue', 'finish', 'withdraw'),
            fc.constantFrom('a', 'b'),
            fc.nat(5),
          ),
        ),
        (ops) => {
          const q = new SessionRunQueue(100);
          const running = new Map<string, string>();
          let n = 0;
          for (const [op, session, pick] of ops) {
            if (op === 'enqueue') {
              const id = `r${n++}`;
              if (q.enqueue(session, id).start) {
                expect(running.has(session)).toBe(false);
                running.set(session, id);
              }
            } else if (op === 'finish') {
              const active = running.get(session);
              if (!active) continue;
              const next = q.finish(session, active);
              if (next) running.set(session, next);
              else running.delete(session);
            } else {
              const waiting = q.waiting(session);
              if (waiting.length > 0) q.withdraw(session, waiting[pick % waiting.length]!);
            }
            expect(q.activeRun(session)).toBe(running.get(session));
          }
        },
      ),
    );
  });
});

const delta = (runId: string, sessionId: string, text: string) => ({
  type: 'assistant.delta' as const,
  runId,
  sessionId,
  round: 1,
  text,
});
const state = (runId: string, sessionId: string, s: 'queued' | 'running' | 'completed') => ({
  type: 'run.state' as const,
  runId,
  sessionId,
  state: s,
});

async function take(
  it: AsyncGenerator<[string, AgentRunEvent]>,
  count: number,
): Promise<[string, AgentRunEvent][]> {
  const out: [string, AgentRunEvent][] = [];
  while (out.length < count) {
    const next = await it.next();
    if (next.done) break;
    out.push(next.value);
  }
  return out;
}

describe('RunEventHub', () => {
  it('resumes after the last id with nothing lost and nothing repeated, across replay and live', async () => {
    const hub = new RunEventHub({ maxEventsPerRun: 100, maxQueuedPerSubscriber: 100 });
    hub.publish(state('r1', 's', 'running'));
    for (let i = 0; i < 5; i++) hub.publish(delta('r1', 's', `t${i}`));
    const first = new AbortController();
    const sub1 = hub.subscribe({ runId: 'r1', signal: first.signal });
    const got1 = await take(sub1, 3);
    first.abort();
    await sub1.return(undefined);
    // the client dropped here; more happens meanwhile
    for (let i = 5; i < 8; i++) hub.publish(delta('r1', 's', `t${i}`));
    const second = new AbortController();
    const sub2 = hub.subscribe({
      runId: 'r1',
      lastEventId: got1.at(-1)![0],
      signal: second.signal,
    });
    const replayed = await take(sub2, 6);
    const live = take(sub2, 2);
    hub.publish(delta('r1', 's', 't8'));
    hub.publish(state('r1', 's', 'completed'));
    const tail = await live;
    const texts = [...got1, ...replayed, ...tail].map(([, e]) =>
      e.type === 'assistant.delta' ? e.text : e.type === 'run.state' ? e.state : e.type,
    );
    expect(texts).toEqual([
      'running',
      't0',
      't1',
      't2',
      't3',
      't4',
      't5',
      't6',
      't7',
      't8',
      'completed',
    ]);
    // ends by itself after the terminal state
    expect((await sub2.next()).done).toBe(true);
    expect(hub.listenerCount).toBe(0);
  });

  it('a subscription to a finished run replays it and ends', async () => {
    const hub = new RunEventHub({ maxEventsPerRun: 100, maxQueuedPerSubscriber: 100 });
    hub.publish(state('r1', 's', 'running'));
    hub.publish(delta('r1', 's', 'x'));
    hub.publish(state('r1', 's', 'completed'));
    const got = await take(
      hub.subscribe({ runId: 'r1', signal: new AbortController().signal }),
      10,
    );
    expect(got).toHaveLength(3);
  });

  it('a session feed merges that session’s runs in order and ignores other sessions', async () => {
    const hub = new RunEventHub({ maxEventsPerRun: 100, maxQueuedPerSubscriber: 100 });
    hub.publish(delta('r1', 's', 'a'));
    hub.publish(delta('r2', 'other', 'zz'));
    hub.publish(delta('r3', 's', 'b'));
    hub.publish({
      type: 'session.message',
      sessionId: 's',
      channel: 'webchat',
      to: 's',
      text: 'c',
      messageId: 'm1',
    });
    const controller = new AbortController();
    const got = await take(hub.subscribe({ sessionId: 's', signal: controller.signal }), 3);
    controller.abort();
    expect(got.map(([, e]) => ('text' in e ? e.text : ''))).toEqual(['a', 'b', 'c']);
    const ids = got.map(([id]) => Number(id.split(':')[1]));
    expect([...ids].sort((x, y) => x - y)).toEqual(ids);
  });

  it('an id from another gateway process replays everything retained', async () => {
    const hub = new RunEventHub({ maxEventsPerRun: 100, maxQueuedPerSubscriber: 100 });
    hub.publish(delta('r1', 's', 'a'));
    hub.publish(delta('r1', 's', 'b'));
    const controller = new AbortController();
    const got = await take(
      hub.subscribe({ sessionId: 's', lastEventId: 'deadbeef:1', signal: controller.signal }),
      2,
    );
    controller.abort();
    expect(got).toHaveLength(2);
  });

  it('tells a late resumer about evicted events with a gap marker', async () => {
    const hub = new RunEventHub({ maxEventsPerRun: 3, maxQueuedPerSubscriber: 100 });
    for (let i = 0; i < 6; i++) hub.publish(delta('r1', 's', `t${i}`));
    const controller = new AbortController();
    const got = await take(
      hub.subscribe({ runId: 'r1', lastEventId: hub.idOf(1), signal: controller.signal }),
      4,
    );
    controller.abort();
    expect(got[0]![1]).toMatchObject({ type: 'gap', runId: 'r1', missedFrom: hub.idOf(1) });
    expect(got.slice(1).map(([, e]) => (e as { text: string }).text)).toEqual(['t3', 't4', 't5']);
  });

  it('catches a slow subscriber up from the log instead of buffering without bound', async () => {
    const hub = new RunEventHub({ maxEventsPerRun: 1000, maxQueuedPerSubscriber: 5 });
    const controller = new AbortController();
    const sub = hub.subscribe({ runId: 'r1', signal: controller.signal });
    const firstPull = sub.next();
    hub.publish(delta('r1', 's', 't0'));
    await firstPull;
    // the consumer stops pulling while 50 events arrive
    for (let i = 1; i <= 50; i++) hub.publish(delta('r1', 's', `t${i}`));
    const rest = await take(sub, 50);
    controller.abort();
    expect(rest.map(([, e]) => (e as { text: string }).text)).toEqual(
      Array.from({ length: 50 }, (_, i) => `t${i + 1}`),
    );
  });
});

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

describe('chatMessagesFromTranscript', () => {
  let seq = 0;
  const e = (entry: DistributiveOmit<TranscriptEntry, 'seq' | 'ts'>): TranscriptEntry =>
    ({ ...entry, seq: ++seq, ts: 1 }) as TranscriptEntry;

  it('replays rounds as assistant tool_calls followed by their results', () => {
    const entries = [
      e({ kind: 'user', runId: 'r1', text: 'uptime?', source: { channel: 'webchat' } }),
      e({ kind: 'assistant', runId: 'r1', round: 1, text: 'Checking.' }),
      e({
        kind: 'tool_call',
        runId: 'r1',
        round: 1,
        callId: 'c1',
        tool: 'box__run',
        nodeId: 'nd',
        command: 'run',
        params: { a: 1 },
      }),
      e({
        kind: 'tool_result',
        runId: 'r1',
        callId: 'c1',
        ok: true,
        result: 'up 3 days',
        durationMs: 5,
      }),
      e({
        kind: 'tool_call',
        runId: 'r1',
        round: 1,
        callId: 'c2',
        tool: 'box__run',
        nodeId: 'nd',
        command: 'run',
        params: {},
      }),
      e({ kind: 'assistant', runId: 'r1', round: 2, text: 'Up 3 days.' }),
      e({ kind: 'turn_end', runId: 'r1', state: 'completed', durationMs: 9 }),
      e({
        kind: 'outbound',
        channel: 'telegram',
        to: '1',
        text: 'Up 3 days.',
        messageId: '5',
        runId: 'r1',
      }),
      e({
        kind: 'outbound',
        channel: 'telegram',
        to: '1',
        text: 'Reminder: backup at 2am',
        messageId: '6',
      }),
    ];
    expect(chatMessagesFromTranscript(entries)).toEqual([
      { role: 'user', content: 'uptime?' },
      {
        role: 'assistant',
        content: 'Checking.',
        tool_calls: [
          { id: 'c1', type: 'function', function: { name: 'box__run', arguments: '{"a":1}' } },
          { id: 'c2', type: 'function', function: { name: 'box__run', arguments: '{}' } },
        ],
      },
      { role: 'tool', tool_call_id: 'c1', content: '"up 3 days"' },
      { role: 'tool', tool_call_id: 'c2', content: expect.stringContaining('INTERRUPTED') },
      { role: 'assistant', content: 'Up 3 days.' },
      { role: 'assistant', content: 'Reminder: backup at 2am' },
    ]);
  });

  it('starts at the first user message when the window cut a turn in half', () => {
    const entries = [
      e({ kind: 'tool_result', runId: 'r0', callId: 'old', ok: true, result: 1, durationMs: 1 }),
      e({ kind: 'assistant', runId: 'r0', round: 2, text: 'old answer' }),
      e({ kind: 'user', runId: 'r1', text: 'hi', source: { channel: 'webchat' } }),
    ];
    expect(chatMessagesFromTranscript(entries)).toEqual([{ role: 'user', content: 'hi' }]);
  });

  it('gives a directive call (no assistant text before it) its own assistant message', () => {
    const entries = [
      e({
        kind: 'user',
        runId: 'r1',
        text: '/invoke box run',
        source: { channel: 'telegram', peer: '1' },
      }),
      e({
        kind: 'tool_call',
        runId: 'r1',
        round: 1,
        callId: 'call_1',
        tool: 'box__run',
        nodeId: 'nd',
        command: 'run',
        params: {},
      }),
      e({
        kind: 'tool_result',
        runId: 'r1',
        callId: 'call_1',
        ok: false,
        error: { code: 'NOT_CONNECTED', message: 'offline' },
        durationMs: 1,
      }),
      e({ kind: 'assistant', runId: 'r1', round: 1, text: 'box · run → failed' }),
    ];
    const messages = chatMessagesFromTranscript(entries);
    expect(messages.map((m) => m.role)).toEqual(['user', 'assistant', 'tool', 'assistant']);
    expect(messages[1]).toMatchObject({ content: null });
    expect(messages[2]).toMatchObject({
      content: '{"error":{"code":"NOT_CONNECTED","message":"offline"}}',
    });
  });
});
