import { randomUUID } from 'node:crypto';
import type { Gateway } from '@loopgate/gateway';
import {
  activeProfile,
  HealthOutput,
  LOOPGATE_VERSION,
  profilePort,
  StatusOutput,
} from '@loopgate/protocol';
import { type Command, Option } from 'commander';
import { addClientOptions, type ClientFlags, withClient } from '../connect.js';
import { UsageError } from '../exit-codes.js';
import { formatDuration, note, printResult } from '../output.js';
import { stateDirLockLine, targetsLocalGateway } from './state-dir-lock.js';

export type RunFlags = { port?: string; bind?: string; config?: string; verbose?: boolean };

export function gatewayRunOptions(command: Command): Command {
  return command
    .option('--port <port>', 'port to listen on (0 picks a free one)')
    .addOption(
      new Option('--bind <mode>', 'where to listen').choices([
        'loopback',
        'lan',
        'tailnet',
        'custom',
        'auto',
      ]),
    )
    .option('--config <path>', 'config file (default: LOOPGATE_CONFIG or ~/.loopgate/config.json5)')
    .option('--verbose', 'also write logs to stderr');
}

/**
 * Loads the config (flag > env > file > default) and starts a gateway,
 * printing where it listens and where the token lives — never the token.
 */
export async function startGatewayFromFlags(
  flags: RunFlags,
  options: { quiet?: boolean } = {},
): Promise<Gateway> {
  // Loaded here, not at the top: client commands start faster without the server's modules.
  const {
    createGateway,
    describeLockedStateDir,
    loadConfig,
    StateLockedError,
    UnsafeStateDirError,
  } = await import('@loopgate/gateway');
  const loaded = await loadConfig({
    flags: { port: flags.port, bind: flags.bind },
    ...(flags.config ? { configPath: flags.config } : {}),
  });
  const config = flags.verbose
    ? { ...loaded.config, logging: { ...loaded.config.logging, stderr: true } }
    : loaded.config;
  let gateway: Gateway;
  try {
    gateway = createGateway(config, { explicitCredential: loaded.explicit });
    await gateway.start();
  } catch (error) {
    // A state dir someone else may write into: nothing was read from it; the operator's call (exit 2).
    if (error instanceof UnsafeStateDirError) throw new UsageError(error.message);
    // Another gateway holds this state dir: nothing was touched; it is the operator's call (exit 2).
    if (error instanceof StateLockedError) {
      const profile = activeProfile();
      const stop = `loopgate${profile ? ` --profile ${profile}` : ''} gateway stop`;
      throw new UsageError(describeLockedStateDir(error.stateDir, error.status, stop));
    }
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') {
      // This state dir's lock was free, so the port belongs to another program or another state dir's gateway.
      const profile = activeProfile();
      const derived =
        profile && config.gateway.port === profilePort(profile)
          ? ` (derived from profile "${profile}"; set gateway.port in its config)`
          : '';
      throw new Error(
        `port ${config.gateway.port}${derived} is already in use by another program or a gateway on another state dir — choose another with --port, or find it with: loopgate --url ws://127.0.0.1:${config.gateway.port} health`,
      );
    }
    throw error;
  }
  if (!options.quiet) {
    const out = (line: string) => process.stdout.write(`${line}\n`);
    out(
      `loopgate ${LOOPGATE_VERSION} gateway listening on ${gateway.addresses.map((a) => a.url).join(', ')}`,
    );
    out(
      gateway.tokenPath
        ? `auth: token, generated and stored in ${gateway.tokenPath} (mode 0600; local clients read it from there)`
        : `auth: ${gateway.services.config.gateway.auth.password ? 'password' : 'token'} from configuration`,
    );
    if (gateway.tlsFingerprint)
      out(
        `tls: wss with certificate sha256 ${gateway.tlsFingerprint} (pin it with --tls-fingerprint)`,
      );
    out(`config: ${loaded.path ?? 'none (embedded defaults)'} · state: ${gateway.stateDir}`);
    out(`logs: ${config.logging.file ?? `${gateway.stateDir}/logs/gateway.log`}`);
  }
  return gateway;
}

export type StopSignals = {
  /** Resolves after the graceful stop that the first SIGINT/SIGTERM (caught since arming) begins. */
  stopGatewayOnSignal(gateway: Gateway, onStop?: () => void): Promise<void>;
  /** Hands SIGINT/SIGTERM back (to their default action, or to whoever handles them next). */
  release(): void;
};

/**
 * Catches SIGINT/SIGTERM from now on, before the gateway starts: a signal sent
 * while it starts, or right after it prints that it listens, then stops it
 * gracefully (lock released) instead of killing it by the default action. The
 * first signal hands them back, so a second one still ends a stuck stop.
 */
export function armStopSignals(): StopSignals {
  let received: NodeJS.Signals | undefined;
  let onSignal: ((signal: NodeJS.Signals) => void) | undefined;
  const release = () => {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
  };
  const handler = (signal: NodeJS.Signals) => {
    release();
    received = signal;
    onSignal?.(signal);
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return {
    release,
    stopGatewayOnSignal: (gateway, onStop) =>
      new Promise((resolve) => {
        onSignal = (signal) => {
          onStop?.();
          void gateway.stop(`gateway stopped (${signal})`).then(resolve);
        };
        if (received) onSignal(received);
      }),
  };
}

/** Starts the gateway with SIGINT/SIGTERM already caught; see `armStopSignals`. */
export async function startGatewayWithSignals(
  flags: RunFlags,
  options?: { quiet?: boolean },
): Promise<{ gateway: Gateway; signals: StopSignals }> {
  const signals = armStopSignals();
  try {
    return { gateway: await startGatewayFromFlags(flags, options), signals };
  } catch (error) {
    signals.release();
    throw error;
  }
}

function renderHealth(h: HealthOutput): string {
  const c = h.connections;
  return [
    `${h.ok ? 'ok' : 'NOT OK'} · loopgate ${h.version} · up ${formatDuration(h.uptimeMs)}`,
    `event-loop delay p99 ${h.eventLoopDelayMs} ms · ${c.total} connection(s): ${c.operators} operator, ${c.nodes} node · check ${h.checkDurationMs.toFixed(2)} ms`,
  ].join('\n');
}

function renderChannel(c: StatusOutput['channels'][number]): string {
  const detail = c.detail ? ` (${c.detail})` : '';
  const probe = c.probe
    ? c.probe.ok
      ? ` · probe ok${c.probe.latencyMs === undefined ? '' : ` ${Math.round(c.probe.latencyMs)} ms`}`
      : ` · probe FAILED: ${c.probe.error ?? 'no answer'}`
    : '';
  return `${c.name} ${c.state}${detail}${probe}`;
}

function renderStatus(s: StatusOutput): string {
  const lines = [
    `loopgate ${s.version} · pid ${s.pid} · up ${formatDuration(Date.now() - s.startedAt)}`,
    `bind: ${s.bind.mode} → ${s.bind.urls.join(', ')}`,
    `auth: ${s.auth.mode} (${s.auth.source})${s.auth.allowTailscale ? ` · ${s.auth.tailscale ?? 'tailscale identity allowed'}` : ''}`,
    `tls: ${s.tls.enabled ? `on · sha256 ${s.tls.fingerprint ?? '?'}` : 'off'}`,
    ...(s.openclaw ? [`openclaw endpoint: on → ${s.openclaw.urls.join(', ')}`] : []),
    `connections: ${s.connections.total} (${s.connections.operators} operator, ${s.connections.nodes} node)`,
    `nodes: ${s.nodes.paired} paired, ${s.nodes.online} online, ${s.nodes.pending} pending`,
    `sessions: ${s.sessions.total} · active runs ${s.sessions.activeRuns}`,
    `channels: ${s.channels.length === 0 ? 'none' : s.channels.map(renderChannel).join(', ')}`,
  ];
  for (const n of s.deep?.nodes ?? []) {
    lines.push(
      `  node ${n.name}: ${n.ok ? `ok ${n.latencyMs ?? '?'} ms` : `FAILED ${n.error ?? ''}`}`,
    );
  }
  return lines.join('\n');
}

function registerClientCommands(parent: Command, options: { lockLine: boolean }): void {
  addClientOptions(
    parent.command('health').description('liveness and vital signs of the gateway'),
  ).action(async (flags: ClientFlags) => {
    const health = await withClient(flags, (c) => c.health.query());
    printResult(health, { json: flags.json, schema: HealthOutput, human: renderHealth });
  });

  addClientOptions(
    parent
      .command('status')
      .description('bind, auth, TLS, nodes, sessions and channels')
      .option('--deep', 'probe channels and nodes live'),
  ).action(async (flags: ClientFlags & { deep?: boolean }) => {
    // `gateway status` first says which process holds the local state dir, even when it does not answer.
    if (options.lockLine && !flags.json && targetsLocalGateway(flags))
      process.stdout.write(`${await stateDirLockLine()}\n`);
    const status = await withClient(flags, (c) => c.status.query({ deep: flags.deep ?? false }));
    printResult(status, { json: flags.json, schema: StatusOutput, human: renderStatus });
  });

  addClientOptions(
    parent
      .command('call')
      .description('call any procedure by its dotted name with JSON params')
      .argument('<method>', 'procedure name, e.g. health or nodes.list')
      .option('--params <json>', 'params as JSON', '{}'),
  ).action(async (method: string, flags: ClientFlags & { params: string }) => {
    let params: unknown;
    try {
      params = JSON.parse(flags.params);
    } catch (error) {
      throw new UsageError(`--params is not valid JSON: ${(error as Error).message}`);
    }
    const result = await withClient(flags, (c) =>
      c.callMethod.mutate({ method, params: withDefaultIdempotencyKey(method, params) }),
    );
    printResult(result, { json: flags.json, human: (v) => JSON.stringify(v, null, 2) });
  });
}

/** Procedures whose dedicated commands (`loopgate agent`, `loopgate send`) default a fresh key. */
const KEYED_METHODS = new Set(['agent', 'send']);

/** `gateway call agent|send` behaves as `loopgate agent|send`: no key given, a fresh one. */
function withDefaultIdempotencyKey(method: string, params: unknown): unknown {
  if (!KEYED_METHODS.has(method) || typeof params !== 'object' || params === null) return params;
  if (Array.isArray(params) || 'idempotencyKey' in params) return params;
  return { ...params, idempotencyKey: randomUUID() };
}

/** The `gateway` command, for the lifecycle commands to hang under. */
export function registerGatewayCommands(program: Command): Command {
  // Top-level shortcuts, and the same commands under `gateway` as in the reference system.
  registerClientCommands(program, { lockLine: false });
  const gateway = program.command('gateway').description('run and query the gateway');
  gatewayRunOptions(gateway.command('run').description('run the gateway in the foreground')).action(
    async (flags: RunFlags) => {
      const { gateway: gw, signals } = await startGatewayWithSignals(flags);
      note('press Ctrl+C to stop');
      await signals.stopGatewayOnSignal(gw, () => note('stopping…'));
    },
  );
  registerClientCommands(gateway, { lockLine: true });
  return gateway;
}
