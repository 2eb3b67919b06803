/**
 * Lists the longest functions, methods and arrow functions under the given
 * folders, so a room that has grown too big to change safely is seen before
 * it is changed.
 *
 *   tsx scripts/longest-functions.ts [--top N] [--max LINES] [--json] <folder>...
 *
 * Without `--max` it prints the N longest (default 15) and exits 0. With
 * `--max 120` it also exits 1 when a function that is not a data table is
 * longer than that, naming each one on stderr.
 *
 * A data table is a function whose whole body is one array or object literal
 * (an expression body, or a single `return`), or one preceded by a comment
 * line `// data table: <why>`: its length is the length of the data, and
 * splitting it would only scatter the table.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';

export interface FunctionLength {
  file: string;
  line: number;
  lines: number;
  name: string;
  table: boolean;
}

const SOURCE_FILE = /\.(ts|tsx|mts|cts)$/;
const SKIPPED_DIRS = new Set(['node_modules', 'dist', '.git', 'coverage']);
const TABLE_MARKER = /\/\/\s*data table:/;

function sourceFiles(root: string): string[] {
  if (statSync(root).isFile()) return [root];
  const found: string[] = [];
  for (const entry of readdirSync(root, { withFileTypes: true })) {
    if (entry.isDirectory()) {
      if (!SKIPPED_DIRS.has(entry.name)) found.push(...sourceFiles(join(root, entry.name)));
    } else if (SOURCE_FILE.test(entry.name) && !entry.name.endsWith('.d.ts')) {
      found.push(join(root, entry.name));
    }
  }
  return found;
}

function propertyName(name: ts.PropertyName | ts.BindingName, source: ts.SourceFile): string {
  return ts.isIdentifier(name) || ts.isPrivateIdentifier(name) ? name.text : name.getText(source);
}

/** The name a reader would search for: the declaration, the variable or key it is bound to, or the call it is passed to. */
function functionName(node: ts.FunctionLikeDeclaration, source: ts.SourceFile): string {
  if (ts.isConstructorDeclaration(node)) {
    const owner = node.parent;
    return `${ts.isClassLike(owner) && owner.name ? owner.name.text : '<class>'}.constructor`;
  }
  if (node.name) {
    const own = propertyName(node.name, source);
    const owner = node.parent;
    if (ts.isClassLike(owner) && owner.name) return `${owner.name.text}.${own}`;
    return own;
  }
  const parent = node.parent;
  if (ts.isVariableDeclaration(parent)) return propertyName(parent.name, source);
  if (ts.isPropertyAssignment(parent)) return propertyName(parent.name, source);
  if (ts.isPropertyDeclaration(parent)) return propertyName(parent.name, source);
  if (ts.isCallExpression(parent)) {
    const callee = parent.expression.getText(source).replace(/\s+/g, '');
    return `<callback of ${callee.length > 40 ? `${callee.slice(0, 37)}...` : callee}()>`;
  }
  if (ts.isReturnStatement(parent)) {
    const outer = ts.findAncestor(parent, ts.isFunctionLike);
    if (outer && 'body' in outer) return `<returned by ${functionName(outer, source)}>`;
  }
  return '<anonymous>';
}

function unwrap(expression: ts.Expression): ts.Expression {
  let current = expression;
  while (
    ts.isParenthesizedExpression(current) ||
    ts.isAsExpression(current) ||
    ts.isSatisfiesExpression(current)
  ) {
    current = current.expression;
  }
  return current;
}

function isLiteral(expression: ts.Expression): boolean {
  const inner = unwrap(expression);
  return ts.isArrayLiteralExpression(inner) || ts.isObjectLiteralExpression(inner);
}

function isDataTable(node: ts.FunctionLikeDeclaration, source: ts.SourceFile): boolean {
  const body = node.body;
  if (!body) return false;
  if (!ts.isBlock(body)) {
    if (isLiteral(body)) return true;
  } else if (body.statements.length === 1) {
    const only = body.statements[0]!;
    if (ts.isReturnStatement(only) && only.expression && isLiteral(only.expression)) return true;
  }
  const statement = ts.findAncestor(node, (n) => ts.isStatement(n) || ts.isClassElement(n));
  const leading = ts.getLeadingCommentRanges(source.text, (statement ?? node).getFullStart()) ?? [];
  return leading.some((range) => TABLE_MARKER.test(source.text.slice(range.pos, range.end)));
}

export function measureFile(path: string, label = path): FunctionLength[] {
  const text = readFileSync(path, 'utf8');
  const kind = path.endsWith('x') ? ts.ScriptKind.TSX : ts.ScriptKind.TS;
  const source = ts.createSourceFile(path, text, ts.ScriptTarget.Latest, true, kind);
  const found: FunctionLength[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isFunctionLike(node) && 'body' in node && node.body) {
      const fn = node as ts.FunctionLikeDeclaration;
      const start = source.getLineAndCharacterOfPosition(fn.getStart(source)).line;
      const end = source.getLineAndCharacterOfPosition(fn.getEnd()).line;
      found.push({
        file: label,
        line: start + 1,
        lines: end - start + 1,
        name: functionName(fn, source),
        table: isDataTable(fn, source),
      });
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

export function measureFolders(folders: readonly string[], cwd = process.cwd()): FunctionLength[] {
  return folders
    .flatMap((folder) => sourceFiles(folder))
    .flatMap((file) => measureFile(file, relative(cwd, file)))
    .sort((a, b) => b.lines - a.lines || a.file.localeCompare(b.file) || a.line - b.line);
}

interface Options {
  top: number;
  max: number | undefined;
  json: boolean;
  folders: string[];
}

function usage(problem: string): never {
  process.stderr.write(
    `${problem}\nusage: tsx scripts/longest-functions.ts [--top N] [--max LINES] [--json] <folder>...\n`,
  );
  process.exit(2);
}

function positiveInteger(flag: string, value: string | undefined): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1) usage(`${flag} wants a positive integer`);
  return parsed;
}

function parseArgs(argv: readonly string[]): Options {
  const options: Options = { top: 15, max: undefined, json: false, folders: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--top') options.top = positiveInteger(arg, argv[++i]);
    else if (arg === '--max') options.max = positiveInteger(arg, argv[++i]);
    else if (arg === '--json') options.json = true;
    else if (arg.startsWith('--')) usage(`unknown option ${arg}`);
    else options.folders.push(arg);
  }
  if (options.folders.length === 0) usage('name at least one folder');
  return options;
}

function table(rows: readonly FunctionLength[]): string {
  const lines = rows.map(
    (row) =>
      `| ${row.lines} | ${row.file}:${row.line} | ${row.name}${row.table ? ' (data table)' : ''} |`,
  );
  return ['| lines | where | function |', '|---:|---|---|', ...lines].join('\n');
}

function main(): void {
  const options = parseArgs(process.argv.slice(2));
  const all = measureFolders(options.folders);
  const top = all.slice(0, options.top);
  process.stdout.write(options.json ? `${JSON.stringify(top, null, 2)}\n` : `${table(top)}\n`);
  if (options.max === undefined) return;
  const limit = options.max;
  const over = all.filter((row) => !row.table && row.lines > limit);
  for (const row of over) {
    process.stderr.write(
      `${row.file}:${row.line} ${row.name} is ${row.lines} lines (max ${limit})\n`,
    );
  }
  if (over.length > 0) process.exit(1);
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) main();
