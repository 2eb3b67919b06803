import { join, resolve } from 'node:path';
import { resolveGatewayTarget } from '@loopgate/client';
import { resolveStateDir } from '@loopgate/protocol';
import { EMPTY_SETTINGS } from './config-file/index.js';
import { DashboardController } from './controller/index.js';
import { openDashboardLog, routeConsoleToLog } from './log/dashboard-log.js';
import { createDashboardStore, initialState } from './state/index.js';

export type DashboardOptions = {
  url?: string;
  token?: string;
  password?: string;
  /** `user@host`: reach the gateway through a supervised SSH tunnel. */
  ssh?: string;
  /** An ssh config file used instead of ~/.ssh/config for that tunnel (`ssh -F`). */
  sshConfig?: string;
  /** Pin(s) of the gateway's TLS certificate. */
  tlsFingerprint?: string | string[];
  /** Hide and refuse everything that changes the gateway or the config file. */
  readOnly?: boolean;
  /** The config file the Connection pane reads and saves (`gateway.remote.*`). */
  configPath?: string;
  /** Where the dashboard logs; default `<state dir>/logs/dashboard.log`. */
  logFile?: string;
  /** A named context (`--context`, else the config's currentContext). */
  context?: string;
};

/** Exit codes, as the CLI uses them. */
const EXIT_OK = 0;
const EXIT_USAGE = 2;

const NO_TTY_MESSAGE = `loopgate tui needs an interactive terminal (stdin and stdout must be a TTY).
For scripts and pipes use the --json commands instead, for example:
  loopgate health --json
  loopgate status --json
  loopgate nodes list --json
  loopgate gateway call <method> --params '<json>' --json
`;

/**
 * Ink decides on colours and on "CI mode" when it is first imported, so the
 * environment is settled before the dynamic import below:
 * - NO_COLOR (no-color.org) is mapped to FORCE_COLOR=0, the only switch Ink 6 obeys;
 * - an interactive terminal is not a CI log, yet with CI set Ink would print
 *   nothing until exit — so CI is cleared for this process once both ends are TTYs.
 */
export function prepareTerminalEnv(env: NodeJS.ProcessEnv): void {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') env.FORCE_COLOR = '0';
  for (const name of ['CI', 'CONTINUOUS_INTEGRATION']) {
    if (env[name] !== undefined) env[name] = 'false';
  }
}

function stateDirOf(env: NodeJS.ProcessEnv): string {
  return resolveStateDir(env);
}

/**
 * Runs `load` with no global `fetch`. Ink's layout engine (yoga-layout)
 * embeds its wasm as a base64 data: URL and, when `fetch` exists, reads it
 * through `fetch`: in Node that first call loads all of undici, ~45 ms of a
 * ~400 ms first frame here. Without `fetch` it decodes the same bytes
 * directly. Nothing in the dashboard uses `fetch` (the gateway is a
 * WebSocket), so hiding it while Ink loads changes nothing else.
 */
async function withoutFetch<T>(load: () => Promise<T>): Promise<T> {
  const { fetch } = globalThis;
  Reflect.set(globalThis, 'fetch', undefined);
  try {
    return await load();
  } finally {
    globalThis.fetch = fetch;
  }
}

/**
 * `loopgate tui` (and the dashboard half of `loopgate start`). Resolves with
 * the process exit code once the operator quits; never throws for anything
 * the gateway does.
 */
export async function runDashboard(options: DashboardOptions = {}): Promise<number> {
  const { stdin, stdout, stderr, env } = process;
  if (!stdin.isTTY || !stdout.isTTY) {
    stderr.write(NO_TTY_MESSAGE);
    return EXIT_USAGE;
  }
  prepareTerminalEnv(env);
  const stateDir = stateDirOf(env);
  const configPath = resolve(
    options.configPath ?? env.LOOPGATE_CONFIG ?? join(stateDir, 'config.json5'),
  );
  // The header names the context in use, also when it is the config's currentContext.
  const context =
    options.context ??
    (options.url || options.ssh ? undefined : currentContextOf(options.configPath));
  const log = openDashboardLog(options.logFile ?? join(stateDir, 'logs', 'dashboard.log'));
  const restoreConsole = routeConsoleToLog(log);
  log.info('dashboard starting', {
    readOnly: options.readOnly === true,
    columns: stdout.columns,
    rows: stdout.rows,
  });

  let controller: DashboardController | undefined;
  const onSignal = () => quit();
  let quit = () => {};
  try {
    // Dial first, draw second: the gateway answers (and its health lands in
    // the store) while this process compiles Ink and React, so the first
    // frame can already show it instead of a connecting state.
    const { gatewayPortFactory } = await import('./open-gateway.js');
    const store = createDashboardStore(
      initialState({
        columns: stdout.columns || 80,
        rows: stdout.rows || 24,
        readOnly: options.readOnly === true,
        target: options.url ?? (options.ssh ? `ssh ${options.ssh}` : 'local gateway'),
        context,
        configPath,
        settings: EMPTY_SETTINGS,
      }),
    );
    const pins = options.tlsFingerprint === undefined ? undefined : [options.tlsFingerprint].flat();
    controller = new DashboardController({
      store,
      openPort: gatewayPortFactory({ configPath: options.configPath, log }),
      target: {
        ...(options.url ? { url: options.url } : {}),
        ...(options.token ? { token: options.token } : {}),
        ...(options.password ? { password: options.password } : {}),
        ...(options.ssh ? { ssh: { target: options.ssh } } : {}),
        ...(options.sshConfig ? { sshConfigFile: options.sshConfig } : {}),
        ...(pins ? { tlsFingerprint: pins } : {}),
        ...(context ? { context } : {}),
      },
      log,
      onQuit: () => quit(),
    });
    controller.start();
    const { renderDashboard } = await withoutFetch(() => import('./ui/render.js'));
    const perform = controller.perform.bind(controller);
    const rendered = renderDashboard({ store, perform, stdin, stdout, stderr });
    quit = rendered.quit;
    process.once('SIGTERM', onSignal);
    process.once('SIGHUP', onSignal);
    await rendered.exited;
    return EXIT_OK;
  } catch (error) {
    log.error('dashboard failed', { error: (error as Error).message });
    throw error;
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGHUP', onSignal);
    await controller?.dispose();
    log.info('dashboard stopped');
    restoreConsole();
    await log.close();
  }
}

function currentContextOf(configPath: string | undefined): string | undefined {
  try {
    return resolveGatewayTarget(configPath ? { configPath } : {}).context;
  } catch {
    // A bad config is reported when the dashboard connects, with its key path.
    return undefined;
  }
}
