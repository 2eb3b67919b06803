import { open } from 'node:fs/promises';
import type { LogRecord } from '@loopgate/protocol';
import { parseLine } from './log-ring.js';

/** At most this much of the file's end is read for one request: a huge log never stalls the gateway. */
export const MAX_TAIL_BYTES = 4 * 1024 * 1024;

/**
 * Records from the end of the log file with `since <= time < before`, oldest
 * first, reading at most MAX_TAIL_BYTES. A missing file is no records.
 */
export async function readLogFileTail(
  path: string,
  range: { since: number; before: number },
): Promise<LogRecord[]> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  try {
    const { size } = await handle.stat();
    const length = Math.min(size, MAX_TAIL_BYTES);
    const buffer = Buffer.alloc(length);
    await handle.read(buffer, 0, length, size - length);
    const lines = buffer.toString('utf8').split('\n');
    // Reading from the middle of the file, the first line is partial.
    if (length < size) lines.shift();
    const records: LogRecord[] = [];
    for (const line of lines) {
      if (!line) continue;
      const record = parseLine(line);
      if (record && record.time >= range.since && record.time < range.before) records.push(record);
    }
    return records;
  } finally {
    await handle.close();
  }
}
