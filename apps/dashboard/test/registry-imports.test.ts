import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const PANES_DIR = join(import.meta.dirname, '..', 'src', 'panes');

/** Value (not `import type`) imports of the pane registry, `panes/index.ts`, from a pane's own files. */
function registryValueImports(): string[] {
  const found: string[] = [];
  for (const pane of readdirSync(PANES_DIR, { withFileTypes: true })) {
    if (!pane.isDirectory()) continue;
    for (const file of readdirSync(join(PANES_DIR, pane.name))) {
      const text = readFileSync(join(PANES_DIR, pane.name, file), 'utf8');
      for (const match of text.matchAll(/^import\s+(?!type\b)[^;]*from\s+'\.\.\/index\.js'/gm))
        found.push(`${pane.name}/${file}: ${match[0]}`);
    }
  }
  return found;
}

describe('the pane registry', () => {
  it('is never imported for its values by a pane (a cycle that deadlocks a one-file bundle under Ink’s top-level await)', () => {
    expect(registryValueImports()).toEqual([]);
  });
});
