/**
 * The event bus reports what it cannot write: a failed append and a failed
 * compaction each leave a warning in the gateway's log, on a real full disk
 * (a tiny tmpfs), and a recovery is reported once space is back.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventBus } from '../../gateway/src/events/index.js';
import { createLogger, LogRing } from '../../gateway/src/log/index.js';
import { mountSmallDisk, requireSmallDisk, type SmallDisk } from '../src/hardening/index.js';
import { waitFor } from '../src/index.js';

describe('event bus: failed writes and compactions are logged', () => {
  let disk: SmallDisk | { unavailable: string };
  beforeAll(async () => {
    disk = await mountSmallDisk(128);
  });
  afterAll(async () => {
    if ('dir' in disk) await disk.unmount();
  });
  const smallDisk = (context: { skip: (note?: string) => never }) =>
    requireSmallDisk(disk, 128, context);

  const logged = (ring: LogRing, message: string) =>
    waitFor(() => ring.recent().find((r) => r.msg === message), { what: `log line "${message}"` });

  it('a full disk: the failed append is logged once with ENOSPC, and the recovery once space is back', async (context) => {
    const small = smallDisk(context);
    const ring = new LogRing();
    const log = createLogger({ level: 'info', ring });
    const logPath = join(small.dir, 'append', 'events.jsonl');
    const bus = new EventBus({ replayBufferSize: 1_000, logPath, log });
    await bus.open();
    bus.emit({ type: 'gateway.started', version: 'test' });
    expect(bus.lastEventId).toBe('1');
    await small.fill();
    try {
      // Bigger than any slack left in the log's last page: the write needs a page the disk lacks.
      bus.emit({ type: 'gateway.stopping', reason: 'x'.repeat(6_000) });
      bus.emit({ type: 'gateway.stopping', reason: 'y'.repeat(6_000) });
      expect(bus.lastEventId).toBe('3');
      const failed = await logged(
        ring,
        'event log write failed; events stay in memory only until a write succeeds',
      );
      expect(failed.level).toBe(40);
      // The disk takes what fits in the last page (a short write) or nothing (ENOSPC).
      expect(JSON.stringify(failed.err)).toMatch(/ENOSPC|short write: \d+ of \d+ bytes/);
      expect(failed.path).toBe(logPath);
    } finally {
      await small.free();
    }
    bus.emit({ type: 'gateway.started', version: 'again' });
    expect(bus.lastEventId).toBe('4');
    await logged(ring, 'event log writes succeed again');
    const failures = ring.recent().filter((r) => r.msg?.startsWith('event log write failed'));
    expect(failures, 'reported once per failing streak, not once per event').toHaveLength(1);
    await bus.close();
  });

  it('a full disk: a failed compaction is logged with ENOSPC, and the bus keeps appending', async (context) => {
    const small = smallDisk(context);
    const ring = new LogRing();
    const log = createLogger({ level: 'info', ring });
    const logPath = join(small.dir, 'compact', 'events.jsonl');
    // Compaction runs once the log holds more than 8 × the ring.
    const bus = new EventBus({ replayBufferSize: 2, logPath, log });
    await bus.open();
    for (let i = 0; i < 16; i++) bus.emit({ type: 'gateway.started', version: `v${i}` });
    expect(bus.lastEventId).toBe('16');
    await small.fill();
    try {
      // A short line fits in the log's last page; the compacted copy needs a new page.
      bus.emit({ type: 'gateway.started', version: 'v16' });
      expect(bus.lastEventId).toBe('17');
      const failed = await logged(
        ring,
        'event log compaction failed; appending to the current log, will retry',
      );
      expect(failed.level).toBe(40);
      expect(JSON.stringify(failed)).toMatch(/ENOSPC/);
    } finally {
      await small.free();
    }
    await bus.close();
  });
});
