// JSX pragmas: `tsx` compiles with the repo root's tsconfig, which sets no jsx option.
/** @jsxRuntime automatic */
/** @jsxImportSource react */
import { Box, useInput, useStdin, useStdout } from 'ink';
import { type ReactNode, useEffect, useState, useSyncExternalStore } from 'react';
import { type Effect, effectsForKey, keyPressesFrom } from '../keys/index.js';
import { fitsTerminal, paneRows } from '../layout.js';
import { PANES, type PaneId, paneDefinition } from '../panes/index.js';
import type { DashboardState, DashboardStore, OperatorIntent } from '../state/index.js';
import { Footer, Header, MessageLine, PaneTabs, StatusLine, TooSmall } from './chrome.js';
import { ConfirmScreen, HelpScreen } from './overlays.js';
import type { PaneProps } from './pane-frame.js';

export type AppProps = {
  store: DashboardStore;
  /** Carries out what the operator asked for (the controller's `perform`). */
  perform: (intent: OperatorIntent) => void;
  /** Clock for uptimes and "ago" columns; tests pin it. */
  clock?: () => number;
};

export function applyEffects(
  store: DashboardStore,
  perform: (intent: OperatorIntent) => void,
  effects: Effect[],
): void {
  for (const effect of effects) {
    if ('dispatch' in effect) store.dispatch(effect.dispatch);
    else if ('confirm' in effect)
      store.dispatch({ type: 'confirm.requested', intent: effect.confirm });
    else perform(effect.perform);
  }
}

/**
 * The one input hook. Every key goes through the binding table; the hook is
 * only active when stdin can be put in raw mode (it cannot without a TTY).
 */
function useDashboardKeys(store: DashboardStore, perform: (intent: OperatorIntent) => void): void {
  const { isRawModeSupported } = useStdin();
  useInput(
    (input, key) => {
      for (const press of keyPressesFrom(input, key)) {
        const state = store.getState();
        const effects = effectsForKey(state, press);
        // a notice lives until the next key
        if (state.notice) store.dispatch({ type: 'notice', notice: undefined });
        applyEffects(store, perform, effects);
      }
    },
    { isActive: isRawModeSupported === true },
  );
}

/** Keeps the terminal size in the state, so layout is a pure function of it. */
function useTerminalSize(store: DashboardStore): void {
  const { stdout } = useStdout();
  useEffect(() => {
    const update = () => {
      const { columns, rows } = store.getState().terminal;
      const next = { columns: stdout.columns || columns, rows: stdout.rows || rows };
      if (next.columns !== columns || next.rows !== rows)
        store.dispatch({ type: 'terminal.resized', ...next });
    };
    update();
    stdout.on('resize', update);
    return () => {
      stdout.off('resize', update);
    };
  }, [stdout, store]);
}

function useNow(clock: () => number, everyMs: number): number {
  const [now, setNow] = useState(clock);
  useEffect(() => {
    const timer = setInterval(() => setNow(clock()), everyMs);
    return () => clearInterval(timer);
  }, [clock, everyMs]);
  return now;
}

export function Dashboard({ state, now }: { state: DashboardState; now: number }): ReactNode {
  const { columns, rows } = state.terminal;
  if (!fitsTerminal(state.terminal)) return <TooSmall columns={columns} rows={rows} />;
  const props: PaneProps = {
    state,
    width: columns,
    height: paneRows(state.terminal),
    now,
    tabLabel: (id: PaneId) => `${PANES.indexOf(id) + 1} ${paneDefinition(id).title}`,
  };
  let body: ReactNode;
  if (state.mode.kind === 'help') body = <HelpScreen {...props} />;
  else if (state.mode.kind === 'confirm') body = <ConfirmScreen {...props} />;
  else {
    const Pane = paneDefinition(state.pane).view;
    body = <Pane {...props} />;
  }
  return (
    <Box flexDirection="column" width={columns}>
      <Header state={state} now={now} />
      <PaneTabs state={state} />
      {body}
      <MessageLine state={state} />
      <StatusLine state={state} />
      <Footer state={state} />
    </Box>
  );
}

export function App({ store, perform, clock = Date.now }: AppProps): ReactNode {
  const state = useSyncExternalStore(store.subscribe, store.getState);
  useDashboardKeys(store, perform);
  useTerminalSize(store);
  const now = useNow(clock, 1_000);
  return <Dashboard state={state} now={now} />;
}
