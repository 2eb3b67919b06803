import JSON5 from 'json5';

/**
 * Sets `path` (object keys) to `value` (JSON-serializable, not undefined) in
 * JSON5 source text, touching only the text of that member: comments,
 * ordering and formatting elsewhere in the file stay as the operator wrote
 * them. Missing objects along the path are created.
 *
 * Returns undefined when the text is not shaped as expected; the caller then
 * rewrites the whole file from the parsed value.
 */
export function setJson5Member(
  text: string,
  path: readonly string[],
  value: unknown,
): string | undefined {
  try {
    const root = skipTrivia(text, 0);
    if (text[root] !== '{') return undefined;
    return setIn(text, root, path, value, '');
  } catch {
    // text this editor cannot follow: undefined makes the caller rewrite the file from the parsed value
    return undefined;
  }
}

type Member = { key: string; keyStart: number; valueStart: number; valueEnd: number };

function setIn(
  text: string,
  objectStart: number,
  path: readonly string[],
  value: unknown,
  indent: string,
): string {
  const [key, ...rest] = path;
  if (key === undefined) throw new Error('empty path');
  const { members, close } = readObject(text, objectStart);
  const memberIndent = members[0] ? lineIndent(text, members[0].keyStart) : `${indent}  `;
  const found = members.find((m) => m.key === key);
  if (found) {
    if (rest.length > 0 && text[found.valueStart] === '{') {
      return setIn(text, found.valueStart, rest, value, memberIndent);
    }
    const replacement = serialize(rest.length > 0 ? nest(rest, value) : value, memberIndent);
    return text.slice(0, found.valueStart) + replacement + text.slice(found.valueEnd);
  }
  const member = `${formatKey(key)}: ${serialize(rest.length > 0 ? nest(rest, value) : value, memberIndent)}`;
  const last = members.at(-1);
  if (!last) {
    const closeIndent = lineIndent(text, close);
    const onOwnLine = /\n[ \t]*$/.test(text.slice(0, close));
    const before = text.slice(0, close).replace(/[ \t]*$/, '');
    return `${before}${onOwnLine ? '' : '\n'}${memberIndent}${member},\n${onOwnLine ? closeIndent : indent}${text.slice(close)}`;
  }
  // after the last member, its comma and a comment on the same line, if any
  const afterLast = skipTrivia(text, last.valueEnd);
  const hasComma = text[afterLast] === ',';
  const lineEnd = hasComma ? afterLast + 1 : last.valueEnd;
  const insertAt = lineEnd + (/^[ \t]*\/\/[^\n]*/.exec(text.slice(lineEnd))?.[0].length ?? 0);
  const head = hasComma
    ? text.slice(0, insertAt)
    : `${text.slice(0, lineEnd)},${text.slice(lineEnd, insertAt)}`;
  return `${head}\n${memberIndent}${member},${text.slice(insertAt)}`;
}

function nest(path: readonly string[], value: unknown): unknown {
  return path.reduceRight<unknown>((inner, key) => ({ [key]: inner }), value);
}

function serialize(value: unknown, indent: string): string {
  return JSON5.stringify(value, null, 2).replace(/\n/g, `\n${indent}`);
}

function formatKey(key: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(key) ? key : JSON.stringify(key);
}

function lineIndent(text: string, at: number): string {
  const lineStart = text.lastIndexOf('\n', at - 1) + 1;
  return /^[ \t]*/.exec(text.slice(lineStart, at))?.[0] ?? '';
}

function readObject(text: string, open: number): { members: Member[]; close: number } {
  const members: Member[] = [];
  let i = skipTrivia(text, open + 1);
  while (text[i] !== '}') {
    if (i >= text.length) throw new Error('unterminated object');
    const keyStart = i;
    let key: string;
    if (text[i] === '"' || text[i] === "'") {
      const end = skipString(text, i);
      key = JSON5.parse(text.slice(i, end)) as string;
      i = end;
    } else {
      const match = /^[^\s:/]+/.exec(text.slice(i));
      if (!match) throw new Error('bad key');
      key = match[0];
      i += key.length;
    }
    i = skipTrivia(text, i);
    if (text[i] !== ':') throw new Error('expected :');
    const valueStart = skipTrivia(text, i + 1);
    const valueEnd = skipValue(text, valueStart);
    members.push({ key, keyStart, valueStart, valueEnd });
    i = skipTrivia(text, valueEnd);
    if (text[i] === ',') i = skipTrivia(text, i + 1);
  }
  return { members, close: i };
}

function skipValue(text: string, i: number): number {
  const c = text[i];
  if (c === '"' || c === "'") return skipString(text, i);
  if (c === '{' || c === '[') {
    const closer = c === '{' ? '}' : ']';
    let j = skipTrivia(text, i + 1);
    while (text[j] !== closer) {
      if (j >= text.length) throw new Error('unterminated');
      if (c === '{') {
        j =
          text[j] === '"' || text[j] === "'"
            ? skipString(text, j)
            : j + (/^[^\s:/]+/.exec(text.slice(j))?.[0].length ?? 0);
        j = skipTrivia(text, j);
        if (text[j] !== ':') throw new Error('expected :');
        j = skipTrivia(text, j + 1);
      }
      j = skipTrivia(text, skipValue(text, j));
      if (text[j] === ',') j = skipTrivia(text, j + 1);
    }
    return j + 1;
  }
  // number, true/false/null, Infinity, NaN
  const match = /^[^\s,}\]/]+/.exec(text.slice(i));
  if (!match) throw new Error('bad value');
  return i + match[0].length;
}

function skipString(text: string, i: number): number {
  const quote = text[i];
  let j = i + 1;
  while (j < text.length && text[j] !== quote) j += text[j] === '\\' ? 2 : 1;
  if (j >= text.length) throw new Error('unterminated string');
  return j + 1;
}

/** Skips whitespace and comments. */
function skipTrivia(text: string, i: number): number {
  let j = i;
  for (;;) {
    while (j < text.length && /\s/.test(text[j]!)) j++;
    if (text.startsWith('//', j)) {
      const end = text.indexOf('\n', j);
      j = end < 0 ? text.length : end + 1;
    } else if (text.startsWith('/*', j)) {
      const end = text.indexOf('*/', j + 2);
      if (end < 0) throw new Error('unterminated comment');
      j = end + 2;
    } else {
      return j;
    }
  }
}
