/**
 * Screen budget. The live frame is kept one row shorter than the terminal:
 * Ink redraws a frame as tall as the window by clearing the whole screen,
 * which flickers and wipes scrollback.
 */
export const MIN_COLUMNS = 60;
export const MIN_ROWS = 16;

/** Header, pane tabs, message/prompt line, status line, key hints. */
const CHROME_ROWS = 5;

export type TerminalSize = { columns: number; rows: number };

export function fitsTerminal(size: TerminalSize): boolean {
  return size.columns >= MIN_COLUMNS && size.rows >= MIN_ROWS;
}

/** Rows a pane may use. */
export function paneRows(size: TerminalSize): number {
  return Math.max(1, size.rows - 1 - CHROME_ROWS);
}

/**
 * How far PgUp/PgDn move a scrolled list: a pane's height less the rows it
 * keeps for its own header (`reservedRows`), never less than one line.
 */
export function pageStep(size: TerminalSize, reservedRows = 2): number {
  return Math.max(1, paneRows(size) - reservedRows);
}

/** Width classes the panes lay out for (60, 80, 120 columns). */
export function widthClass(columns: number): 'narrow' | 'medium' | 'wide' {
  if (columns >= 110) return 'wide';
  if (columns >= 76) return 'medium';
  return 'narrow';
}
