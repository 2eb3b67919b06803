/**
 * How numbers, times and widths are written on screen. Everything here is
 * pure so panes stay pure views.
 */

/** `3d 4h`, `2h 05m`, `4m 09s`, `12s`. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const d = Math.floor(s / 86_400);
  const h = Math.floor((s % 86_400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  if (d > 0) return `${d}d ${h}h`;
  if (h > 0) return `${h}h ${String(m).padStart(2, '0')}m`;
  if (m > 0) return `${m}m ${String(sec).padStart(2, '0')}s`;
  return `${sec}s`;
}

/** `just now`, `12s ago`, `5m ago`. */
export function formatAgo(ts: number | undefined, now: number): string {
  if (ts === undefined) return 'never';
  const ms = now - ts;
  if (ms < 2_000) return 'just now';
  return `${formatDuration(ms)} ago`;
}

/** `14:03:07` in local time. */
export function formatClock(ts: number): string {
  const d = new Date(ts);
  return [d.getHours(), d.getMinutes(), d.getSeconds()]
    .map((n) => String(n).padStart(2, '0'))
    .join(':');
}

export function formatMs(ms: number | undefined): string {
  if (ms === undefined) return '–';
  return ms < 10 ? `${ms.toFixed(1)}ms` : `${Math.round(ms)}ms`;
}

const SPARK = '▁▂▃▄▅▆▇█';

/** The last `width` values as a bar per value, scaled between their min and max. */
export function sparkline(values: readonly number[], width: number): string {
  const shown = values.slice(-width);
  if (shown.length === 0) return '';
  const min = Math.min(...shown);
  const max = Math.max(...shown);
  const span = max - min;
  return shown
    .map(
      (v) =>
        SPARK[
          span === 0 ? 0 : Math.min(SPARK.length - 1, Math.floor(((v - min) / span) * SPARK.length))
        ],
    )
    .join('');
}

/** Cuts `text` to `width` columns with an ellipsis. */
export function truncate(text: string, width: number): string {
  if (width <= 0) return '';
  if (text.length <= width) return text;
  return width === 1 ? '…' : `${text.slice(0, width - 1)}…`;
}

/** A fixed-width table cell, with a column of gutter after it. */
export function cell(text: string, width: number): string {
  return truncate(text, width - 1).padEnd(width);
}

/** Wraps text to lines of at most `width` columns, breaking at spaces where it can. */
export function wrapLines(text: string, width: number): string[] {
  const out: string[] = [];
  for (const paragraph of text.split('\n')) {
    let line = '';
    for (const word of paragraph.split(/(\s+)/)) {
      if (word === '') continue;
      if ((line + word).length <= width) {
        line += word;
        continue;
      }
      if (line.trim() !== '') out.push(line.trimEnd());
      line = word.trimStart();
      while (line.length > width) {
        out.push(line.slice(0, width));
        line = line.slice(width);
      }
    }
    out.push(line.trimEnd());
  }
  return out;
}

/** A SHA-256 fingerprint (`AA:BB:…`) in lines of whole bytes, to compare by eye at any width. */
export function fingerprintLines(fingerprint: string, width: number): string[] {
  const bytes = fingerprint.split(':');
  const perLine = Math.max(1, Math.floor((width + 1) / 3));
  const lines: string[] = [];
  for (let i = 0; i < bytes.length; i += perLine) lines.push(bytes.slice(i, i + perLine).join(':'));
  return lines;
}

/** The rows of a window of `height` over `count` rows that keeps `cursor` in view, centred when it can. */
export function windowAround(
  count: number,
  height: number,
  cursor: number,
): { start: number; end: number } {
  if (count <= height) return { start: 0, end: count };
  const start = Math.max(0, Math.min(count - height, cursor - Math.floor(height / 2)));
  return { start, end: start + height };
}
