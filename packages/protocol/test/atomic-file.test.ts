import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { removeStaleTempFiles, tempPathFor, writeJsonAtomic } from '../src/atomic-file.js';

/** The pid of a process that has already exited. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
  return Number(child.stdout.toString());
}

describe('atomic state files', () => {
  it('names temp files beside their target, after the writing process', () => {
    const tmp = tempPathFor('/state/nodes.json');
    expect(tmp.startsWith('/state/.nodes.json.')).toBe(true);
    expect(basename(tmp)).toMatch(
      new RegExp(`^\\.nodes\\.json\\.${process.pid}\\.[0-9a-f]{12}\\.tmp$`),
    );
  });

  it("sweeps a dead writer's temp files, and nothing else", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'loopgate-sweep-'));
    await mkdir(join(dir, 'sessions'));
    const dead = deadPid();
    const stale = [
      join(dir, `.nodes.json.${dead}.0123456789ab.tmp`),
      join(dir, 'sessions', `.s-1.jsonl.${dead}.ba9876543210.tmp`),
    ];
    const kept = [
      tempPathFor(join(dir, 'gateway-token')), // this process: a write may be in progress
      join(dir, `.nodes.json.${process.ppid}.0123456789ab.tmp`), // another live process
      join(dir, 'nodes.json'),
      join(dir, 'notes.tmp'),
      join(dir, `.nodes.json.${dead}.not-hex.tmp`),
    ];
    for (const path of [...stale, ...kept]) await writeFile(path, 'x');

    const removed = await removeStaleTempFiles(dir);

    expect(removed.sort()).toEqual([...stale].sort());
    const left = [...(await readdir(dir)), ...(await readdir(join(dir, 'sessions')))];
    expect(left.sort()).toEqual([...kept.map((p) => basename(p)), 'sessions'].sort());
  });

  it('leaves nothing behind after a successful write', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'loopgate-sweep-'));
    await writeJsonAtomic(join(dir, 'a.json'), { a: 1 });
    expect(await readdir(dir)).toEqual(['a.json']);
    expect(await removeStaleTempFiles(join(dir, 'missing'))).toEqual([]);
  });
});
