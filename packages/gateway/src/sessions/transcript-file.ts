import { TranscriptEntry } from '@loopgate/protocol';

/** First line of every transcript file: who the session is with, so a lost index can be rebuilt. */
export type TranscriptHeader = {
  kind: 'session';
  v: 1;
  id: string;
  channel: string;
  peer?: string | undefined;
  createdAt: number;
  /** Entries of this file are numbered from `seqBase + 1` (seq keeps rising across resets). */
  seqBase: number;
};

export type ParsedTranscript = {
  header: TranscriptHeader | undefined;
  entries: TranscriptEntry[];
  /** Byte length of the file up to and including the last complete line. */
  intactBytes: number;
  /** A last line with no newline, or one that is not valid JSON: an interrupted write. */
  tornTail: { bytes: number } | undefined;
  /** Complete lines in the middle that could not be read (kept on disk, skipped here). */
  skippedLines: number;
};

/**
 * Reads a JSONL transcript the way a crash may have left it: a torn last
 * line is reported (so the caller can trim it before appending) and never
 * makes the file unreadable; unreadable lines elsewhere are skipped.
 */
export function parseTranscript(text: string): ParsedTranscript {
  const result: ParsedTranscript = {
    header: undefined,
    entries: [],
    intactBytes: 0,
    tornTail: undefined,
    skippedLines: 0,
  };
  let offset = 0;
  let bytes = 0;
  while (offset < text.length) {
    const newline = text.indexOf('\n', offset);
    const complete = newline !== -1;
    const line = text.slice(offset, complete ? newline : text.length);
    const lineBytes = Buffer.byteLength(line) + (complete ? 1 : 0);
    offset = complete ? newline + 1 : text.length;
    const isLast = offset >= text.length;
    const parsed = line.trim() === '' ? undefined : parseLine(line);
    if (!complete || (parsed === null && isLast)) {
      // An append that never finished: no newline, or garbage at the very end.
      result.tornTail = { bytes: lineBytes };
      break;
    }
    bytes += lineBytes;
    result.intactBytes = bytes;
    if (parsed === undefined) continue;
    if (parsed === null) {
      result.skippedLines++;
      continue;
    }
    if (isHeader(parsed)) {
      result.header ??= parsed;
      continue;
    }
    const entry = TranscriptEntry.safeParse(parsed);
    if (entry.success) result.entries.push(entry.data);
    else result.skippedLines++;
  }
  return result;
}

/** The transcript entry one line holds, or undefined for the header, a blank or an unreadable line. */
export function entryOfLine(line: string): TranscriptEntry | undefined {
  if (line.trim() === '') return undefined;
  const parsed = parseLine(line);
  if (parsed === null || isHeader(parsed)) return undefined;
  const entry = TranscriptEntry.safeParse(parsed);
  return entry.success ? entry.data : undefined;
}

function parseLine(line: string): unknown {
  try {
    return JSON.parse(line) as unknown;
  } catch {
    // A torn line (crash mid-append) is skipped by the caller, which counts it.
    return null;
  }
}

function isHeader(value: unknown): value is TranscriptHeader {
  if (value === null || typeof value !== 'object') return false;
  const v = value as Record<string, unknown>;
  return (
    v.kind === 'session' &&
    typeof v.id === 'string' &&
    typeof v.channel === 'string' &&
    typeof v.createdAt === 'number'
  );
}

export function headerLine(header: TranscriptHeader): string {
  return `${JSON.stringify(header)}\n`;
}

export function entryLines(entries: readonly TranscriptEntry[]): string {
  return entries.map((e) => `${JSON.stringify(e)}\n`).join('');
}
