import { describe, expect, it } from 'vitest';
import { Lifecycle } from '../src/lifecycle/index.js';

/** The lifecycle on its own, with parts that record what happens to them. */
type Part = 'lock' | 'files' | 'sockets';
const STOP_ORDER: readonly Part[] = ['sockets', 'files', 'lock'];

function recording(options: { failAt?: Part; failClose?: Part } = {}) {
  const journal: string[] = [];
  let opens = 0;
  const lifecycle = new Lifecycle<Part>({
    stopOrder: STOP_ORDER,
    async open(opened) {
      opens++;
      for (const part of ['lock', 'files', 'sockets'] as const) {
        await Promise.resolve();
        if (options.failAt === part) throw new Error(`${part} failed to open`);
        journal.push(`open ${part}`);
        opened(part, (reason) => {
          journal.push(`close ${part} (${reason})`);
          if (options.failClose === part) throw new Error(`${part} failed to close`);
        });
      }
    },
    beforeStop: (reason) => journal.push(`stopping (${reason})`),
    afterStop: (reason) => journal.push(`stopped (${reason})`),
    onCloseError: (part, error) => journal.push(`close error ${part}: ${(error as Error).message}`),
  });
  return { lifecycle, journal, opens: () => opens };
}

describe('lifecycle', () => {
  it('is started only once every part is open, and stops in the stop order', async () => {
    const { lifecycle, journal } = recording();
    const starting = lifecycle.start();
    expect(lifecycle.phase).toBe('starting');
    await starting;
    expect(lifecycle.phase).toBe('started');
    expect(lifecycle.openParts).toEqual(['lock', 'files', 'sockets']);
    await lifecycle.stop('bye');
    expect(journal).toEqual([
      'open lock',
      'open files',
      'open sockets',
      'stopping (bye)',
      'close sockets (bye)',
      'close files (bye)',
      'close lock (bye)',
      'stopped (bye)',
    ]);
    expect(lifecycle.phase).toBe('stopped');
  });

  it('a failed start closes what it opened, in stop order, rethrows, and can be retried', async () => {
    let failAt: Part | undefined = 'sockets';
    const journal: string[] = [];
    const lifecycle = new Lifecycle<Part>({
      stopOrder: STOP_ORDER,
      async open(opened) {
        for (const part of ['lock', 'files', 'sockets'] as const) {
          if (failAt === part) throw new Error(`${part} failed to open`);
          journal.push(`open ${part}`);
          opened(part, (reason) => void journal.push(`close ${part} (${reason})`));
        }
      },
      onCloseError: () => {},
    });
    await expect(lifecycle.start()).rejects.toThrow('sockets failed to open');
    expect(lifecycle.phase).toBe('stopped');
    expect(lifecycle.openParts).toEqual([]);
    expect(journal).toEqual([
      'open lock',
      'open files',
      'close files (start failed)',
      'close lock (start failed)',
    ]);
    failAt = undefined;
    await lifecycle.start();
    expect(lifecycle.phase).toBe('started');
    expect(lifecycle.openParts).toEqual(['lock', 'files', 'sockets']);
  });

  it('a second start while starting shares the promise; once started it resolves without opening again', async () => {
    const { lifecycle, opens } = recording();
    const first = lifecycle.start();
    expect(lifecycle.start()).toBe(first);
    await first;
    await lifecycle.start();
    expect(opens()).toBe(1);
  });

  it('stop is idempotent: concurrent stops share the promise; a stop of a stopped lifecycle does nothing', async () => {
    const { lifecycle, journal } = recording();
    await lifecycle.stop('never started');
    expect(journal).toEqual([]);
    await lifecycle.start();
    const stopping = lifecycle.stop('one');
    expect(lifecycle.stop('two')).toBe(stopping);
    await stopping;
    await lifecycle.stop('three');
    expect(journal.filter((line) => line.startsWith('close'))).toHaveLength(3);
  });

  it('stop during start waits for it; start during stop waits for the stop', async () => {
    const { lifecycle, journal } = recording();
    const starting = lifecycle.start();
    const stopping = lifecycle.stop('early');
    await Promise.all([starting, stopping]);
    expect(lifecycle.phase).toBe('stopped');
    expect(journal.at(-1)).toBe('stopped (early)');
    await lifecycle.start();
    const stoppingAgain = lifecycle.stop('restart');
    const restarting = lifecycle.start();
    await Promise.all([stoppingAgain, restarting]);
    expect(lifecycle.phase).toBe('started');
  });

  it('a stop during a start that fails has nothing to stop', async () => {
    const { lifecycle, journal } = recording({ failAt: 'files' });
    const starting = lifecycle.start();
    const stopping = lifecycle.stop('early');
    await expect(starting).rejects.toThrow('files failed to open');
    await stopping;
    expect(journal).toEqual(['open lock', 'close lock (start failed)']);
  });

  it('a close that throws does not keep the other parts open; stop rethrows it at the end', async () => {
    const { lifecycle, journal } = recording({ failClose: 'files' });
    await lifecycle.start();
    await expect(lifecycle.stop('bye')).rejects.toThrow('files failed to close');
    expect(journal).toContain('close error files: files failed to close');
    expect(journal).toContain('close lock (bye)');
    expect(lifecycle.phase).toBe('stopped');
    expect(lifecycle.openParts).toEqual([]);
  });
});
