/** @jsxRuntime automatic */
/** @jsxImportSource react */
import { render } from 'ink-testing-library';
import type { ReactElement } from 'react';
import { expect } from 'vitest';
import type { DashboardState, DashboardStore, OperatorIntent } from '../src/state/index.js';
import { createDashboardStore } from '../src/state/index.js';
import { App, Dashboard } from '../src/ui/App.js';
import { NOW } from './fixtures.js';

export const WIDTHS = [60, 80, 120] as const;

/** The frame as an operator reads it: no colour codes. */
export function plain(frame: string | undefined): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: ANSI escape sequences start with ESC
  return (frame ?? '').replace(/\u001B\[[0-9;?]*[A-Za-z]/g, '');
}

/**
 * ink-testing-library's stdout reports 100 columns; the dashboard is checked
 * at 60, 80 and 120, so the size is set on that stdout before Ink lays out
 * the frame again.
 */
function renderSized(element: ReactElement, columns: number, rows: number) {
  const instance = render(element);
  Object.defineProperty(instance.stdout, 'columns', { get: () => columns, configurable: true });
  Object.defineProperty(instance.stdout, 'rows', { get: () => rows, configurable: true });
  instance.rerender(element);
  return instance;
}

/** A pure frame of the state. */
export function frameOf(state: DashboardState, now = NOW): string {
  return plain(rawFrameOf(state, now));
}

/** The frame as the terminal gets it, colour codes and all. */
export function rawFrameOf(state: DashboardState, now = NOW): string {
  const element = <Dashboard state={state} now={now} />;
  const instance = renderSized(element, state.terminal.columns, state.terminal.rows);
  const frame = instance.lastFrame() ?? '';
  instance.unmount();
  return frame;
}

/** Every line fits the width, and the live frame stays shorter than the terminal. */
export function expectFits(frame: string, columns: number, rows: number): void {
  const lines = frame.split('\n');
  expect(lines.length).toBeLessThan(rows);
  for (const line of lines)
    expect([...line].length, `line too wide: "${line}"`).toBeLessThanOrEqual(columns);
}

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

export type LiveDashboard = {
  store: DashboardStore;
  intents: OperatorIntent[];
  frame(): string;
  /** Types keys as a terminal would send them and lets Ink handle them. */
  press(...keys: string[]): Promise<void>;
  /** The terminal window changes size. */
  resize(columns: number, rows: number): Promise<void>;
  unmount(): void;
};

export const KEYS = {
  enter: '\r',
  esc: '\u001B',
  tab: '\t',
  shiftTab: '\u001B[Z',
  up: '\u001B[A',
  down: '\u001B[B',
  pageUp: '\u001B[5~',
  pageDown: '\u001B[6~',
  backspace: '\u007F',
  ctrlC: '\u0003',
} as const;

/** The whole app with its one input hook, on a store; intents are recorded instead of carried out. */
export async function liveDashboard(state: DashboardState): Promise<LiveDashboard> {
  const store = createDashboardStore(state);
  const intents: OperatorIntent[] = [];
  const element = (
    <App store={store} perform={(intent) => intents.push(intent)} clock={() => NOW} />
  );
  const instance = renderSized(element, state.terminal.columns, state.terminal.rows);
  await tick();
  return {
    async resize(columns, rows) {
      Object.defineProperty(instance.stdout, 'columns', { get: () => columns, configurable: true });
      Object.defineProperty(instance.stdout, 'rows', { get: () => rows, configurable: true });
      instance.stdout.emit('resize');
      await tick();
    },
    store,
    intents,
    frame: () => plain(instance.lastFrame()),
    async press(...keys) {
      for (const key of keys) {
        instance.stdin.write(key);
        // a lone Esc is told apart from an escape sequence on the next turn of the loop
        await tick();
        await tick();
      }
    },
    unmount: () => instance.unmount(),
  };
}
