import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeJsonAtomic } from '@loopgate/protocol';
import { describe, expect, it } from 'vitest';
import { NodeStateFile, type PairedNodeRecord } from '../../src/nodes/node-store.js';

function record(n: number): PairedNodeRecord {
  return {
    nodeId: `nd_${n}`,
    name: `node-${n}`,
    platform: 'linux',
    approvedCommands: ['system.info'],
    declaredCommands: ['system.info'],
    publicKey: null,
    pairedAt: n,
    lastSeenAt: null,
  };
}

/** The real atomic write, counted, and held open until `release()` when `gated`. */
function countingWriter() {
  const writes: number[] = [];
  let gate: Promise<void> | undefined;
  let open: (() => void) | undefined;
  return {
    writes,
    hold() {
      gate = new Promise((resolve) => {
        open = resolve;
      });
    },
    release() {
      open?.();
      gate = undefined;
    },
    write: async (path: string, value: unknown) => {
      writes.push((value as { nodes: unknown[] }).nodes.length);
      await gate;
      await writeJsonAtomic(path, value, { mode: 0o600 });
    },
  };
}

async function stateFile(write?: ReturnType<typeof countingWriter>['write']) {
  const path = join(await mkdtemp(join(tmpdir(), 'loopgate-nodes-')), 'nodes.json');
  return { path, file: new NodeStateFile(path, write ? { write } : {}) };
}

describe('NodeStateFile', () => {
  it('round-trips the records through an atomic write', async () => {
    const { path, file } = await stateFile();
    await file.save([record(1), record(2)]);
    expect(await file.load()).toEqual([record(1), record(2)]);
    expect(JSON.parse(await readFile(path, 'utf8'))).toMatchObject({ version: 2 });
  });

  it('coalesces saves made while a write runs into one write of the newest snapshot', async () => {
    const writer = countingWriter();
    const { file } = await stateFile(writer.write);
    const nodes: PairedNodeRecord[] = [];
    writer.hold();
    nodes.push(record(0));
    const first = file.save([...nodes]);
    await new Promise((resolve) => setImmediate(resolve)); // the first write has started
    const later: Promise<void>[] = [];
    for (let i = 1; i <= 200; i++) {
      nodes.push(record(i));
      later.push(file.save([...nodes]));
    }
    writer.release();
    await Promise.all([first, ...later]);
    // one write for the first save, one for the 200 behind it, with all 201 records
    expect(writer.writes).toEqual([1, 201]);
    expect(await file.load()).toHaveLength(201);
  });

  it('queues a save made after the coalesced write started behind it, newest last', async () => {
    const writer = countingWriter();
    const { file } = await stateFile(writer.write);
    writer.hold();
    const a = file.save([record(1)]);
    await new Promise((resolve) => setImmediate(resolve));
    const b = file.save([record(1), record(2)]);
    writer.release();
    await a;
    writer.hold();
    await new Promise((resolve) => setImmediate(resolve)); // b's write has started
    const c = file.save([record(1), record(2), record(3)]);
    writer.release();
    await Promise.all([b, c]);
    expect(writer.writes).toEqual([1, 2, 3]);
    expect((await file.load()).map((n) => n.nodeId)).toEqual(['nd_1', 'nd_2', 'nd_3']);
  });

  it('rejects every save that joined a failed write, and the next save still lands', async () => {
    let fail = true;
    const { file } = await stateFile(async (path, value) => {
      if (fail) throw new Error('disk full');
      await writeJsonAtomic(path, value);
    });
    const joined = [file.save([record(1)]), file.save([record(1), record(2)])];
    const outcomes = await Promise.allSettled(joined);
    expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'rejected']);
    fail = false;
    await file.save([record(3)]);
    expect((await file.load()).map((n) => n.nodeId)).toEqual(['nd_3']);
  });
});
