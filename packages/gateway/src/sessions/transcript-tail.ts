import { open } from 'node:fs/promises';
import type { TranscriptEntry } from '@loopgate/protocol';
import { entryOfLine } from './transcript-file.js';

/** The first read from a transcript's end; later reads grow with the partial line carried. */
const FIRST_READ_BYTES = 64 * 1024;

/**
 * What one `sessions.history` call may read of a transcript not in memory.
 * Transcripts grow without end (a long-lived chat), and a read-only operator
 * may ask for a page in a loop: past this the page ends where the reading
 * stopped, and says so.
 */
export const MAX_HISTORY_READ_BYTES = 8 * 1024 * 1024;

export type TranscriptPage = {
  /** Oldest first. */
  entries: TranscriptEntry[];
  hasMore: boolean;
  /** The reading stopped at `maxBytes`: older entries exist on disk but were not read. */
  cut: boolean;
  bytesRead: number;
};

const NEWLINE = 0x0a;

/**
 * The last `limit` entries with `seq` below `before`, read backwards from the
 * file's end: the work is what the page needs, not the transcript's length.
 * An unfinished last line (a crash mid-append) is skipped, as are unreadable
 * lines; the file is not changed.
 */
export async function readTranscriptTail(
  path: string,
  options: { limit: number; before?: number | undefined; maxBytes?: number },
): Promise<TranscriptPage> {
  const maxBytes = options.maxBytes ?? MAX_HISTORY_READ_BYTES;
  const handle = await open(path, 'r').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw error;
  });
  const newestFirst: TranscriptEntry[] = [];
  const page = (hasMore: boolean, cut: boolean, bytesRead: number): TranscriptPage => ({
    entries: newestFirst.slice(0, options.limit).reverse(),
    hasMore,
    cut,
    bytesRead,
  });
  if (!handle) return page(false, false, 0);
  try {
    let position = (await handle.stat()).size;
    let bytesRead = 0;
    // Bytes after `position` not yet split into lines: the end of a line whose start is unread.
    let pending = Buffer.alloc(0);
    let tailTrimmed = false;
    for (;;) {
      if (!tailTrimmed) {
        const lastNewline = pending.lastIndexOf(NEWLINE);
        if (lastNewline !== -1 || position === 0) {
          pending = pending.subarray(0, lastNewline + 1);
          tailTrimmed = true;
        }
      }
      if (tailTrimmed) {
        let lineEnd = pending.length - 1;
        while (lineEnd >= 0) {
          const lineStart = lineEnd === 0 ? -1 : pending.lastIndexOf(NEWLINE, lineEnd - 1);
          if (lineStart === -1 && position > 0) break;
          const entry = entryOfLine(pending.subarray(lineStart + 1, lineEnd).toString('utf8'));
          if (entry && (options.before === undefined || entry.seq < options.before)) {
            newestFirst.push(entry);
            if (newestFirst.length > options.limit) return page(true, false, bytesRead);
          }
          lineEnd = lineStart;
        }
        pending = pending.subarray(0, lineEnd + 1);
      }
      if (position === 0) return page(false, false, bytesRead);
      if (bytesRead >= maxBytes) return page(true, true, bytesRead);
      // Growing with the carried line keeps one long line from being copied once per read.
      const length = Math.min(
        position,
        Math.max(FIRST_READ_BYTES, pending.length),
        maxBytes - bytesRead,
      );
      const chunk = Buffer.allocUnsafe(length);
      position -= length;
      const { bytesRead: got } = await handle.read(chunk, 0, length, position);
      bytesRead += got;
      pending = Buffer.concat([chunk.subarray(0, got), pending]);
      if (got < length) position = 0; // the file shrank under us: what was read is all there is
    }
  } finally {
    await handle.close();
  }
}
