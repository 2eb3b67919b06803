import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { GatewayEvent } from '@loopgate/protocol';
import { describe, expect, it } from 'vitest';
import { EventBus } from '../src/events/index.js';

const opened = (n: number) => ({
  type: 'connection.opened' as const,
  connectionId: `c${n}`,
  role: 'operator',
  remoteAddress: '127.0.0.1',
});

type Yielded = [string, GatewayEvent, string | undefined];

async function take(iterator: AsyncGenerator<Yielded>, count: number): Promise<Yielded[]> {
  const out: Yielded[] = [];
  while (out.length < count) {
    const next = await iterator.next();
    if (next.done) break;
    out.push(next.value);
  }
  return out;
}

/** A fresh temp dir's `events.jsonl`, and a way to open a bus on it. */
async function logFile(replayBufferSize: number) {
  const logPath = join(await mkdtemp(join(tmpdir(), 'loopgate-events-')), 'events.jsonl');
  const open = async () => {
    const bus = new EventBus({ replayBufferSize, logPath });
    await bus.open();
    return bus;
  };
  /** The log's lines, read synchronously: an async read would give a deferred write its turn. */
  const lines = () => readFileSync(logPath, 'utf8').split('\n').filter(Boolean);
  const seqs = () => lines().map((l) => JSON.parse(l).seq as number);
  return { logPath, open, lines, seqs };
}

describe('EventBus', () => {
  it('numbers durable events and replays after lastEventId', async () => {
    const bus = new EventBus({ replayBufferSize: 100 });
    for (let i = 1; i <= 5; i++) bus.emit(opened(i));
    const controller = new AbortController();
    const got = await take(bus.subscribe({ lastEventId: '2', signal: controller.signal }), 3);
    expect(got.map(([id]) => id)).toEqual(['3', '4', '5']);
    controller.abort();
  });

  it('sends a live-only event to subscribers with the last durable id, and never logs or replays it', async () => {
    const log = await logFile(10);
    const bus = await log.open();
    bus.emit(opened(1));
    const controller = new AbortController();
    const stream = bus.subscribe({ lastEventId: '1', signal: controller.signal });
    const first = stream.next();
    bus.emit(opened(2), { liveOnly: true });
    bus.emit(opened(3));
    const got = [(await first).value as Yielded, ...(await take(stream, 1))];
    expect(got.map(([id, e]) => [id, (e as { connectionId: string }).connectionId])).toEqual([
      ['1', 'c2'],
      ['2', 'c3'],
    ]);
    expect(bus.lastEventId).toBe('2');
    expect(log.seqs()).toEqual([1, 2]);
    const { events } = bus.replayAfter('0');
    expect(events.map((e) => (e.event as { connectionId: string }).connectionId)).toEqual([
      'c1',
      'c3',
    ]);
    controller.abort();
    await bus.close();
  });

  it('hands a live event out with the JSON text its log line holds, and none when superjson must annotate it', async () => {
    const log = await logFile(10);
    const bus = await log.open();
    const controller = new AbortController();
    const stream = bus.subscribe({ signal: controller.signal });
    const first = stream.next();
    bus.emit(opened(1));
    const [, event, json] = (await first).value as Yielded;
    expect(json).toBe(JSON.stringify(event));
    expect(log.lines()).toEqual([JSON.stringify({ seq: 1, event })]);

    // `undefined` is a value superjson annotates: the sender must serialize this one itself.
    const second = stream.next();
    bus.emit({ ...opened(2), clientName: undefined });
    const [, annotated, none] = (await second).value as Yielded;
    expect(none).toBeUndefined();
    expect(log.lines()[1]).toBe(JSON.stringify({ seq: 2, event: annotated }));
    controller.abort();
    await bus.close();
  });

  it('gives ephemeral events the last durable id so a resume skips nothing', () => {
    const bus = new EventBus({ replayBufferSize: 100 });
    bus.emit(opened(1));
    const tick = bus.emit({
      type: 'health.tick',
      health: {
        ok: true,
        version: 'x',
        uptimeMs: 1,
        eventLoopDelayMs: 0,
        connections: { operators: 0, nodes: 0, total: 0 },
        checkDurationMs: 0,
      },
    });
    expect(tick.seq).toBe(1);
    expect(bus.replayAfter('1').events).toEqual([]);
  });

  it('hands a burst over as one batch, in order, when the subscriber asks for batches', async () => {
    const bus = new EventBus({ replayBufferSize: 100 });
    bus.emit(opened(1));
    const controller = new AbortController();
    const batches = bus.subscribeAs(
      { lastEventId: '1', signal: controller.signal },
      (id) => id,
      (ids) => ({ batch: ids }),
    );
    const single = bus.subscribe({ lastEventId: '1', signal: controller.signal });
    const first = batches.next();
    const firstSingle = single.next();
    bus.emit(opened(2));
    expect((await first).value).toBe('2');
    expect((await firstSingle).value?.[0]).toBe('2');
    // emitted while the subscriber was away: one step hands them all over
    for (let i = 3; i <= 6; i++) bus.emit(opened(i));
    bus.emit(opened(7), { liveOnly: true });
    expect((await batches.next()).value).toEqual({ batch: ['3', '4', '5', '6', '6'] });
    // without a batch function the same burst comes one item at a time
    const ones = await take(single, 5);
    expect(ones.map(([id]) => id)).toEqual(['3', '4', '5', '6', '6']);
    expect(ones.at(-1)?.[1]).toMatchObject({ connectionId: 'c7' });
    controller.abort();
  });

  it('marks a gap when the resume point fell out of the ring', async () => {
    const bus = new EventBus({ replayBufferSize: 3 });
    for (let i = 1; i <= 10; i++) bus.emit(opened(i));
    const controller = new AbortController();
    const got = await take(bus.subscribe({ lastEventId: '2', signal: controller.signal }), 4);
    expect(got[0]?.[1].type).toBe('events.gap');
    expect(got.slice(1).map(([id]) => id)).toEqual(['8', '9', '10']);
    controller.abort();
  });

  it('replaces a lagging subscriber backlog with one gap marker instead of growing', async () => {
    const bus = new EventBus({ replayBufferSize: 100, maxQueuedPerSubscriber: 5 });
    const controller = new AbortController();
    const iterator = bus.subscribe({ signal: controller.signal });
    const first = iterator.next();
    bus.emit(opened(0));
    await first;
    for (let i = 1; i <= 20; i++) bus.emit(opened(i));
    const [gap] = await take(iterator, 1);
    expect(gap?.[1].type).toBe('events.gap');
    controller.abort();
  });

  it('frees its listener when the subscriber aborts', async () => {
    const bus = new EventBus({ replayBufferSize: 10 });
    const controller = new AbortController();
    const iterator = bus.subscribe({ signal: controller.signal });
    const pending = iterator.next();
    await Promise.resolve();
    expect(bus.listenerCount).toBe(1);
    controller.abort();
    await pending;
    expect(bus.listenerCount).toBe(0);
  });

  it('persists the sequence across restarts and skips a torn last line', async () => {
    const log = await logFile(10);
    const { logPath } = log;
    const first = await log.open();
    for (let i = 1; i <= 3; i++) first.emit(opened(i));
    await first.close();
    await writeFile(logPath, `${await readFile(logPath, 'utf8')}{"seq":4,"event":{"ty`);
    const second = await log.open();
    expect(second.lastEventId).toBe('3');
    expect(second.emit(opened(4)).seq).toBe(4);
    expect(second.replayAfter('1').events.map((e) => e.seq)).toEqual([2, 3, 4]);
    await second.close();
  });

  it('writes an id to the log before anyone can see it, and an unwatched event within a turn', async () => {
    const log = await logFile(10);
    const bus = await log.open();

    // Nobody watches: the write waits for the end of the turn, then lands.
    bus.emit(opened(1));
    await new Promise((resolve) => setImmediate(resolve));
    expect(log.seqs()).toEqual([1]);

    // `lastEventId` hands an id out, so the event behind it is written first.
    bus.emit(opened(2));
    expect(bus.lastEventId).toBe('2');
    expect(log.seqs()).toEqual([1, 2]);

    // A subscriber gets an id only once its event is on disk.
    const controller = new AbortController();
    const stream = bus.subscribe({ signal: controller.signal });
    const first = stream.next();
    bus.emit(opened(3));
    const [id] = (await first).value as [string, GatewayEvent];
    expect(id).toBe('3');
    expect(log.seqs()).toEqual([1, 2, 3]);
    controller.abort();
    await bus.close();
  });

  it('compacts the log to the ring as it grows, and a restart replays exactly the ring', async () => {
    const log = await logFile(5);
    const bus = await log.open();
    // Past 8 × the ring in log lines, the log is rewritten to the ring (in the background).
    for (let i = 1; i <= 50; i++) {
      bus.emit(opened(i));
      await new Promise((resolve) => setImmediate(resolve));
    }
    // Compaction runs in the background: wait for it, bounded, and say what was seen if it never came.
    const deadline = Date.now() + 5_000;
    while (log.lines().length > 40) {
      if (Date.now() > deadline)
        throw new Error(`the log still has ${log.lines().length} lines after 50 events, ring 5`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await bus.close();
    const lines = log.lines();
    const seqs = log.seqs();
    // At most 8 × the ring is kept. The first compaction (at the 41st line) kept the ring of
    // then, 37–41, so events 1–36 are gone from the file.
    expect(lines.length).toBeGreaterThanOrEqual(5);
    expect(lines.length).toBeLessThanOrEqual(40);
    expect(seqs[0], 'the oldest event left in the file').toBeGreaterThan(36);
    // Whole lines, strictly in order, the last five being the ring.
    expect(seqs.every((seq, i) => i === 0 || seq > seqs[i - 1]!)).toBe(true);
    expect(seqs.slice(-5)).toEqual([46, 47, 48, 49, 50]);
    expect(JSON.parse(lines.at(-1)!)).toMatchObject({
      seq: 50,
      event: { type: 'connection.opened', connectionId: 'c50' },
    });
    const again = await log.open();
    expect(again.replayAfter('0').events.map((e) => e.seq)).toEqual([46, 47, 48, 49, 50]);
    expect(again.emit(opened(51)).seq).toBe(51);
    await again.close();
  });
});
