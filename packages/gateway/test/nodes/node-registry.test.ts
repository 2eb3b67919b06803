import { mkdir, mkdtemp, readFile, rm, rmdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { allowedCommands, NodeRegistry } from '../../src/nodes/node-registry.js';
import type { PairedNodeRecord } from '../../src/nodes/node-store.js';
import { rejection } from '../rejection.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lg-registry-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function record(nodeId: string, name: string): PairedNodeRecord {
  return {
    nodeId,
    name,
    platform: 'linux',
    approvedCommands: ['fs.*'],
    declaredCommands: ['fs.read', 'system.run'],
    publicKey: null,
    pairedAt: 1,
    lastSeenAt: null,
  };
}

/** A directory where the state file goes: every write fails (root ignores chmod, so not that). */
const blockWrites = () => mkdir(join(dir, 'nodes.json'));

const registry = () =>
  new NodeRegistry({ path: join(dir, 'nodes.json'), log: pino({ level: 'silent' }) });

describe('NodeRegistry', () => {
  it('finds nodes by id or by name in any case, and keeps them across a reload', async () => {
    const a = registry();
    await a.load();
    await a.add(record('nd_1', 'Build-Box'));
    expect(a.find('nd_1')?.name).toBe('Build-Box');
    expect(a.find('build-box')?.nodeId).toBe('nd_1');
    expect(a.find('nope')).toBeUndefined();

    const b = registry();
    await b.load();
    expect(b.all().map((r) => r.nodeId)).toEqual(['nd_1']);
    await b.remove(b.get('nd_1')!);
    const c = registry();
    await c.load();
    expect(c.size).toBe(0);
  });

  it('rolls an approval back when the state dir cannot be written', async () => {
    const reg = registry();
    await reg.load();
    await blockWrites();
    const error = await rejection(reg.add(record('nd_2', 'box')));
    expect(error.code).toBe('UNAVAILABLE');
    expect(error.message).not.toContain(dir);
    expect(reg.size).toBe(0);
  });

  it('rolls a removal back when the state dir cannot be written', async () => {
    const reg = registry();
    await reg.load();
    await reg.add(record('nd_3', 'box'));
    const before = await readFile(join(dir, 'nodes.json'), 'utf8');
    await rm(join(dir, 'nodes.json'));
    await blockWrites();
    const error = await rejection(reg.remove(reg.get('nd_3')!));
    expect(error.code).toBe('UNAVAILABLE');
    expect(reg.get('nd_3')).toBeDefined();
    await rmdir(join(dir, 'nodes.json'));
    await reg.saveQuietly();
    expect(await readFile(join(dir, 'nodes.json'), 'utf8')).toBe(before);
  });

  it('offers only what the node declared and the operator approved', () => {
    expect(allowedCommands(record('nd_4', 'box'))).toEqual(['fs.read']);
  });
});
