// JSX pragmas: `tsx` compiles with the repo root's tsconfig, which sets no jsx option.
/** @jsxRuntime automatic */
/** @jsxImportSource react */
import { render } from 'ink';
import type { DashboardStore, OperatorIntent } from '../state/index.js';
import { App } from './App.js';

export type RenderOptions = {
  store: DashboardStore;
  perform: (intent: OperatorIntent) => void;
  stdin: NodeJS.ReadStream;
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
};

export type RenderedDashboard = { exited: Promise<void>; quit(): void };

/**
 * Draws the dashboard on the alternate screen (like htop and k9s: the shell's
 * scrollback is left as it was) until `quit`. Ctrl+C is a key binding, not
 * Ink's exit, so quitting always goes through the same path.
 */
export function renderDashboard(options: RenderOptions): RenderedDashboard {
  const { stdout } = options;
  let left = false;
  const leave = () => {
    if (left) return;
    left = true;
    stdout.write('\u001B[?1049l');
  };
  stdout.write('\u001B[?1049h\u001B[H');
  let instance: ReturnType<typeof render>;
  try {
    instance = render(<App store={options.store} perform={options.perform} />, {
      stdin: options.stdin,
      stdout,
      stderr: options.stderr,
      exitOnCtrlC: false,
      patchConsole: false,
      // a busy event stream re-renders at most this often
      maxFps: 20,
    });
  } catch (error) {
    leave();
    throw error;
  }
  // the terminal went away (SSH dropped, window closed): stop drawing instead of crashing on EIO
  const onStdoutError = () => {
    left = true;
    instance.unmount();
  };
  stdout.on('error', onStdoutError);
  const exited = instance
    .waitUntilExit()
    .then(leave, leave)
    .finally(() => stdout.off('error', onStdoutError));
  return {
    exited,
    quit: () => {
      instance.unmount();
    },
  };
}
