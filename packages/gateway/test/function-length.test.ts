import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { measureFolders } from '../../../scripts/longest-functions.js';

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
