import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { measureFile, measureFolders } from '../../../scripts/longest-functions.js';

const SRC = fileURLToPath(new URL('../src', import.meta.url));

describe('gateway source stays in rooms a reader can hold', () => {
  it('no function in packages/gateway/src is longer than 120 lines (data tables excepted)', () => {
    const all = measureFolders([SRC]);
    expect(all.length, 'functions measured').toBeGreaterThan(100);
    const over = all
      .filter((fn) => !fn.table && fn.lines > 120)
      .map((fn) => `${fn.file}:${fn.line} ${fn.name} (${fn.lines} lines)`);
    expect(over).toEqual([]);
  });
});

describe('scripts/longest-functions', () => {
  it('measures functions, methods and arrows by line, and tells data tables from code', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'loopgate-longest-'));
    try {
      const file = join(dir, 'sample.ts');
      const body = (n: number) => Array.from({ length: n }, (_, i) => `  const v${i} = ${i};`);
      await writeFile(
        file,
        [
          'export function code() {', // line 1
          ...body(5),
          '}',
          'export const table = () => [', // line 8
          ...Array.from({ length: 5 }, (_, i) => `  ${i},`),
          '];',
          '// data table: one row per command',
          'export function marked() {', // line 16
          ...body(3),
          '}',
          'class Box {',
          '  constructor() {', // line 22
          '    this.x = 1;',
          '  }',
          '  x = 0;',
          '}',
        ].join('\n'),
      );
      const found = measureFile(file, 'sample.ts');
      const byName = Object.fromEntries(found.map((f) => [f.name, f]));
      expect(byName.code).toMatchObject({ line: 1, lines: 7, table: false });
      expect(byName.table).toMatchObject({ line: 8, lines: 7, table: true });
      expect(byName.marked).toMatchObject({ line: 16, lines: 5, table: true });
      expect(byName['Box.constructor']).toMatchObject({ line: 22, lines: 3, table: false });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
