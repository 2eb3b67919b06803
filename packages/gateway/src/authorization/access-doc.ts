import { isOperatorScope, Principal } from '@loopgate/protocol';
import { type Access, accessTable, isAllowed } from './access-table.js';

function describeAccess(access: Access): string {
  if (access === 'operator.admin') return 'operator.admin';
  if (isOperatorScope(access)) return `${access} and above`;
  return access === 'node' ? 'paired nodes' : 'unpaired nodes';
}

/**
 * The authorization table as Markdown, one row per procedure in table order
 * and one column per principal. `docs/security.md` embeds exactly this text
 * (`pnpm docs:security` writes it; a test fails when the two drift).
 */
export function renderAccessTable(): string {
  const principals = Principal.options;
  const header = `| Procedure | Who | ${principals.map((p) => `\`${p}\``).join(' | ')} |`;
  const rule = `|---|---|${principals.map(() => ':-:').join('|')}|`;
  const rows = Object.entries(accessTable).map(
    ([path, access]) =>
      `| \`${path}\` | ${describeAccess(access)} | ${principals
        .map((p) => (isAllowed(p, path) ? '✓' : '·'))
        .join(' | ')} |`,
  );
  return [header, rule, ...rows].join('\n');
}
