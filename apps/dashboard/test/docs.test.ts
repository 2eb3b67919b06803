import { readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { COMMANDS, KEY_BINDINGS, keyLabel, SCOPE_TITLES, type Scope } from '../src/keys/index.js';

/**
 * docs/dashboard.md carries the key table; it is generated from the one
 * binding table, and this test fails when the two drift apart.
 * `LOOPGATE_UPDATE_DOCS=1 npx vitest run apps/dashboard/test/docs.test.ts` rewrites it.
 */
const DOC = join(dirname(fileURLToPath(import.meta.url)), '../../../docs/dashboard.md');
const START = '<!-- keys:start (generated from apps/dashboard/src/keys/bindings.ts) -->';
const END = '<!-- keys:end -->';

/** Scopes in the order the binding table (and so the pane registry) lists them. */
const SCOPE_ORDER: Scope[] = [...new Set(KEY_BINDINGS.map((b) => b.scope))];

function cellText(text: string): string {
  return text.replace(/\|/g, '\\|');
}

export function keyTableMarkdown(): string {
  const lines = ['| Where | Keys | What it does |', '|---|---|---|'];
  for (const scope of SCOPE_ORDER) {
    for (const binding of KEY_BINDINGS.filter((b) => b.scope === scope)) {
      const keys = binding.takesText
        ? 'any text'
        : binding.keys.map((k) => `\`${keyLabel(k)}\``).join(' ');
      const notes = binding.mutating ? ' _(hidden in `--read-only`)_' : '';
      lines.push(
        `| ${SCOPE_TITLES[scope]} | ${cellText(keys)} | ${cellText(binding.description)}${notes} |`,
      );
    }
  }
  lines.push('', '| Command | Aliases | What it does |', '|---|---|---|');
  for (const command of COMMANDS) {
    const aliases = command.aliases.map((a) => `\`:${a}\``).join(' ');
    lines.push(
      `| \`${cellText(command.usage)}\` | ${aliases} | ${cellText(command.description)} |`,
    );
  }
  return lines.join('\n');
}

function cells(table: string): string[][] {
  return table.split('\n').map((line) =>
    line
      .split(/(?<!\\)\|/)
      .map((cell) => cell.trim().replace(/^-{3,}$/, '---'))
      .filter((cell, i, all) => !(cell === '' && (i === 0 || i === all.length - 1))),
  );
}

describe('docs/dashboard.md', () => {
  it('lists every key and command exactly as the binding table has them', async () => {
    const doc = await readFile(DOC, 'utf8');
    const start = doc.indexOf(START);
    const end = doc.indexOf(END);
    expect(start, 'key table markers').toBeGreaterThan(-1);
    expect(end).toBeGreaterThan(start);
    const generated = `${START}\n${keyTableMarkdown()}\n${END}`;
    if (process.env.LOOPGATE_UPDATE_DOCS === '1') {
      await writeFile(DOC, doc.slice(0, start) + generated + doc.slice(end + END.length));
      return;
    }
    // the formatter aligns the table's columns; compare cell by cell
    expect(cells(doc.slice(start, end + END.length))).toEqual(cells(generated));
  });
});
