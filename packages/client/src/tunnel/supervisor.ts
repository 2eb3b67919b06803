import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { DEFAULT_PORT, GatewayError, resolveStateDir } from '@loopgate/protocol';
import type { BackoffOptions } from '../backoff.js';
import { classifySshExit, type TunnelFailure, tunnelFailure } from './failure.js';
import {
  canConnect,
  isAlive,
  isLocalPortFree,
  pickFreeLocalPort,
  readLiveTunnelRecord,
  removeTunnelRecord,
  type TunnelRecord,
  writeTunnelRecord,
} from './local-port.js';
import { sshTunnelArgs } from './ssh-command.js';
import {
  INITIAL_TUNNEL_STATE,
  nextTunnelState,
  type RetryPolicy,
  type TunnelEvent,
  type TunnelState,
} from './state.js';

/**
 * The SSH tunnel supervisor: runs `ssh -N -L 127.0.0.1:<local>:127.0.0.1:<remote>`,
 * waits until the forward answers, reports state changes, restarts ssh after
 * transient failures (jittered, bounded backoff) and stops on fatal ones.
 *
 * No orphans: ssh runs under a tiny `sh` watchdog in its own process group.
 * The watchdog holds a pipe from this process; when this process dies — even
 * by SIGKILL — the pipe reaches EOF and the watchdog kills ssh. `close()` and
 * this process's normal exit signal the whole group directly.
 */

export type TunnelOptions = {
  /** `user@host` or a Host alias from the ssh config. */
  target: string;
  /** sshd port on the remote host; default from the ssh config (22). */
  port?: number | undefined;
  identityFile?: string | undefined;
  /** Local end of the forward; default `remotePort`. */
  localPort?: number | undefined;
  /** The gateway's port on the remote host; default 18789. */
  remotePort?: number | undefined;
  /** When the local port is held by a program that is not a loopgate tunnel, use a free port instead of failing. */
  allowPortFallback?: boolean | undefined;
  /** An ssh config file used instead of ~/.ssh/config (`ssh -F`). */
  configFile?: string | undefined;
  /** Extra `-o Key=Value` options; the supervisor's own options and insecure values are refused. */
  sshOptions?: Readonly<Record<string, string>> | undefined;
  /** Default `ssh` from PATH. */
  sshBinary?: string | undefined;
  /** Keepalive every N seconds; a server is declared gone after `serverAliveCountMax` unanswered ones. Default 10 / 3. */
  serverAliveIntervalSec?: number | undefined;
  serverAliveCountMax?: number | undefined;
  /** Default 10. */
  connectTimeoutSec?: number | undefined;
  /** How long ssh has, per attempt, to bring the forward up and pass `readiness`. Default 20 s. */
  readyTimeoutMs?: number | undefined;
  /**
   * An end-to-end check run once the local port accepts connections, e.g. a
   * gateway `health` call through `ws://127.0.0.1:<localPort>`. It is retried
   * until `readyTimeoutMs`; rejecting means "not yet".
   */
  readiness?: ((localPort: number, signal: AbortSignal) => Promise<void>) | undefined;
  /** Consecutive failed retries before giving up; default 10. Fatal failures are never retried. */
  maxRetries?: number | undefined;
  backoff?: BackoffOptions | undefined;
  random?: (() => number) | undefined;
  /** Where running tunnels are recorded so another client can reuse one; default `<state dir>/tunnels`. */
  registryDir?: string | undefined;
  /** The gateway behind the tunnel serves TLS: `url` uses wss://. */
  secure?: boolean | undefined;
};

export type TunnelStateListener = (state: TunnelState) => void;

export type Tunnel = {
  readonly state: TunnelState;
  /** Called on every state change; returns an unsubscribe function. */
  onState(listener: TunnelStateListener): () => void;
  /** The local end (may differ from the configured one after a port fallback). */
  readonly localPort: number;
  /** `ws://127.0.0.1:<localPort>` (wss:// with `secure`). */
  readonly url: string;
  /** Resolves once the tunnel is up; rejects with TUNNEL_FAILED when it fails or is closed first. */
  ready(): Promise<void>;
  /** Stops supervising and ends ssh (not a reused tunnel owned by another process). */
  close(): Promise<void>;
};

const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 500, capMs: 30_000 };
const KILL_GRACE_MS = 2_000;
const READY_POLL_MS = 100;

/**
 * Runs ssh with stdin from /dev/null, and a watcher that waits for EOF on the
 * parent's pipe (fd 3, a copy of the original stdin) and then ends ssh.
 * Exits with ssh's own status, which classification depends on.
 */
const WATCHDOG = [
  'exec 3<&0',
  '"$@" </dev/null 3<&- &',
  'ssh_pid=$!',
  '{ while read -r _; do :; done; kill -TERM "$ssh_pid" 2>/dev/null; } <&3 &',
  'watch_pid=$!',
  'exec 3<&-',
  'wait "$ssh_pid"',
  'status=$?',
  'kill "$watch_pid" 2>/dev/null',
  'exit "$status"',
].join('\n');

/** Process groups to signal if this process exits while tunnels are still up. */
const liveGroups = new Set<number>();
let exitHookInstalled = false;

function trackGroup(pid: number): void {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', () => {
      for (const group of liveGroups) signalGroup(group, 'SIGTERM');
    });
  }
  liveGroups.add(pid);
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // Already gone.
  }
}

/** Starts supervising a tunnel; observe it with `onState` or wait with `ready()`. */
export function startTunnel(options: TunnelOptions): Tunnel {
  return new TunnelSupervisor(options);
}

/**
 * Starts a tunnel and resolves once it is up; on failure closes it and
 * rejects with TUNNEL_FAILED. `onState` hears every state from the start
 * (retries, why, when), for callers that say what they are waiting on.
 */
export async function openTunnel(
  options: TunnelOptions,
  onState?: TunnelStateListener,
): Promise<Tunnel> {
  const tunnel = startTunnel(options);
  if (onState) tunnel.onState(onState);
  try {
    await tunnel.ready();
    return tunnel;
  } catch (error) {
    await tunnel.close();
    throw error;
  }
}

class TunnelSupervisor implements Tunnel {
  readonly #options: TunnelOptions;
  readonly #policy: RetryPolicy;
  readonly #registryDir: string;
  readonly #remotePort: number;
  readonly #listeners = new Set<TunnelStateListener>();
  #state: TunnelState = INITIAL_TUNNEL_STATE;
  #localPort: number;
  #child: ChildProcess | undefined;
  #childExited: Promise<void> = Promise.resolve();
  /** Why we are killing ssh ourselves, so its exit is not misread as a server fault. */
  #killReason: TunnelFailure | undefined;
  #readiness: AbortController | undefined;
  #retryTimer: NodeJS.Timeout | undefined;
  #reusedWatch: NodeJS.Timeout | undefined;

  constructor(options: TunnelOptions) {
    this.#options = options;
    this.#remotePort = options.remotePort ?? DEFAULT_PORT;
    this.#localPort = options.localPort ?? this.#remotePort;
    this.#registryDir = options.registryDir ?? defaultRegistryDir();
    this.#policy = {
      maxRetries: options.maxRetries ?? 10,
      backoff: options.backoff ?? DEFAULT_BACKOFF,
      random: options.random ?? Math.random,
    };
    // Bad targets and refused options are the caller's mistake: throw now, not as a tunnel state.
    this.#sshArgs(this.#localPort);
    void this.#attempt();
  }

  get state(): TunnelState {
    return this.#state;
  }

  get localPort(): number {
    return this.#localPort;
  }

  get url(): string {
    return `${this.#options.secure ? 'wss' : 'ws'}://127.0.0.1:${this.#localPort}`;
  }

  onState(listener: TunnelStateListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  ready(): Promise<void> {
    return new Promise((resolvePromise, reject) => {
      const check = (state: TunnelState): boolean => {
        if (state.status === 'up') resolvePromise();
        else if (state.status === 'failed') reject(tunnelError(state.reason));
        else if (state.status === 'closed')
          reject(new GatewayError('TUNNEL_FAILED', 'the tunnel was closed before it came up'));
        else return false;
        return true;
      };
      if (check(this.#state)) return;
      const off = this.onState((state) => {
        if (check(state)) off();
      });
    });
  }

  async close(): Promise<void> {
    this.#dispatch({ type: 'close' });
    await this.#childExited;
  }

  #dispatch(event: TunnelEvent): void {
    const next = nextTunnelState(this.#state, event, this.#policy);
    if (next === this.#state) return;
    this.#state = next;
    switch (next.status) {
      case 'starting':
        void this.#attempt();
        break;
      case 'retrying':
        this.#retryTimer = setTimeout(() => this.#dispatch({ type: 'retry' }), next.delayMs);
        break;
      case 'failed':
      case 'closed':
        this.#stop();
        break;
      case 'up':
        break;
    }
    for (const listener of [...this.#listeners]) listener(next);
  }

  #stop(): void {
    clearTimeout(this.#retryTimer);
    clearInterval(this.#reusedWatch);
    this.#readiness?.abort();
    this.#killChild(undefined);
  }

  #sshArgs(localPort: number): string[] {
    const o = this.#options;
    return sshTunnelArgs({
      target: o.target,
      sshPort: o.port,
      identityFile: o.identityFile,
      localPort,
      remotePort: this.#remotePort,
      configFile: o.configFile,
      sshOptions: o.sshOptions,
      serverAliveIntervalSec: o.serverAliveIntervalSec ?? 10,
      serverAliveCountMax: o.serverAliveCountMax ?? 3,
      connectTimeoutSec: o.connectTimeoutSec ?? 10,
    });
  }

  async #attempt(): Promise<void> {
    const attemptState = this.#state;
    const stillCurrent = () => this.#state === attemptState;
    let choice: { port: number; reuse?: TunnelRecord } | TunnelFailure;
    try {
      choice = await this.#chooseLocalPort();
    } catch (error) {
      choice = tunnelFailure(
        'exited',
        `cannot check local port ${this.#localPort}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`,
      );
    }
    if (!stillCurrent()) return;
    if ('kind' in choice) return this.#dispatch({ type: 'ended', failure: choice });
    this.#localPort = choice.port;
    if (choice.reuse) return this.#adopt(choice.reuse);
    this.#spawnSsh(choice.port);
    await this.#waitUntilReady(choice.port, stillCurrent);
  }

  /** The port to forward from, an existing loopgate tunnel to reuse, or why neither is possible. */
  async #chooseLocalPort(): Promise<{ port: number; reuse?: TunnelRecord } | TunnelFailure> {
    const wanted = this.#localPort;
    if (wanted === 0) return { port: await pickFreeLocalPort() };
    if (await isLocalPortFree(wanted)) return { port: wanted };
    const record = await readLiveTunnelRecord(this.#registryDir, wanted);
    const o = this.#options;
    if (
      record &&
      record.target === o.target.trim() &&
      record.sshPort === (o.port ?? null) &&
      record.remotePort === this.#remotePort
    ) {
      return { port: wanted, reuse: record };
    }
    if (o.allowPortFallback) return { port: await pickFreeLocalPort() };
    return tunnelFailure(
      'port-conflict',
      record
        ? `127.0.0.1:${wanted} is held by another loopgate tunnel (to ${record.target}:${record.remotePort}): choose another local port or allow a free one (gateway.remote.ssh.allowPortFallback)`
        : `127.0.0.1:${wanted} is already in use by a program that is not a loopgate tunnel: stop it, choose another local port (gateway.remote.ssh.localPort), or allow a free one (gateway.remote.ssh.allowPortFallback)`,
    );
  }

  /** Uses a tunnel another loopgate process supervises; when it goes away we start our own. */
  #adopt(record: TunnelRecord): void {
    this.#dispatch({ type: 'ready', localPort: record.localPort, reused: true });
    const intervalMs = Math.max(500, (this.#options.serverAliveIntervalSec ?? 10) * 500);
    this.#reusedWatch = setInterval(() => {
      if (isAlive(record.pid)) return;
      clearInterval(this.#reusedWatch);
      this.#dispatch({
        type: 'ended',
        failure: tunnelFailure('connection-lost', 'the reused tunnel went away'),
      });
    }, intervalMs);
  }

  #spawnSsh(localPort: number): void {
    const sshBinary = this.#options.sshBinary ?? 'ssh';
    const child = spawn(
      '/bin/sh',
      ['-c', WATCHDOG, 'loopgate-ssh-tunnel', sshBinary, ...this.#sshArgs(localPort)],
      {
        detached: true,
        stdio: ['pipe', 'ignore', 'pipe'],
      },
    );
    this.#child = child;
    this.#killReason = undefined;
    const pid = child.pid;
    if (pid !== undefined) trackGroup(pid);
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString('utf8')).slice(-8_192);
    });
    // Never written to: its EOF is the watchdog's "parent is gone" signal.
    child.stdin?.on('error', () => {});
    this.#childExited = new Promise((resolveExit) => {
      let settled = false;
      const onEnd = (
        code: number | null,
        signal: NodeJS.Signals | null,
        spawnError?: NodeJS.ErrnoException,
      ) => {
        if (settled) return;
        settled = true;
        if (pid !== undefined) {
          liveGroups.delete(pid);
          void removeTunnelRecord(this.#registryDir, localPort, pid);
        }
        resolveExit();
        if (this.#child !== child) return;
        this.#child = undefined;
        this.#readiness?.abort();
        const failure =
          this.#killReason ??
          (spawnError
            ? tunnelFailure('ssh-missing', `cannot start ssh: ${spawnError.code ?? 'spawn failed'}`)
            : classifySshExit({
                code,
                signal,
                stderr,
                target: this.#options.target,
                port: this.#options.port,
                localPort,
              }));
        this.#dispatch({ type: 'ended', failure: this.#withFallback(failure) });
      };
      // The watchdog exits right after ssh; anything left in its group must not outlive it
      // (and must not hold stderr open, or 'close' — which waits for stderr's last bytes — never comes).
      child.once('exit', () => {
        if (pid !== undefined) signalGroup(pid, 'SIGKILL');
      });
      child.once('close', (code, signal) => onEnd(code, signal));
      child.once('error', (error: NodeJS.ErrnoException) => onEnd(null, null, error));
    });
  }

  /** With port fallback allowed, losing the local port to a race is just a reason to pick another one. */
  #withFallback(failure: TunnelFailure): TunnelFailure {
    if (failure.kind !== 'forward-failed' || !this.#options.allowPortFallback) return failure;
    this.#localPort = 0;
    return { ...failure, fatal: false };
  }

  async #waitUntilReady(localPort: number, stillCurrent: () => boolean): Promise<void> {
    const controller = new AbortController();
    this.#readiness = controller;
    const deadline = Date.now() + (this.#options.readyTimeoutMs ?? 20_000);
    let lastProblem = 'the local port never accepted a connection';
    while (!controller.signal.aborted && stillCurrent()) {
      if (await canConnect(localPort, 1_000)) {
        if (!this.#options.readiness) break;
        try {
          await this.#options.readiness(localPort, controller.signal);
          break;
        } catch (error) {
          lastProblem = `the gateway behind it did not answer: ${error instanceof Error ? error.message : String(error)}`;
        }
      }
      if (Date.now() > deadline) {
        this.#killChild(
          tunnelFailure(
            'not-ready',
            `the forward to ${this.#options.target} did not become ready in time (${lastProblem})`,
          ),
        );
        return;
      }
      await new Promise((r) => setTimeout(r, READY_POLL_MS));
    }
    if (controller.signal.aborted || !stillCurrent() || !this.#child) return;
    const pid = this.#child.pid;
    if (pid !== undefined) {
      await writeTunnelRecord(this.#registryDir, {
        pid,
        ownerPid: process.pid,
        target: this.#options.target.trim(),
        sshPort: this.#options.port ?? null,
        remotePort: this.#remotePort,
        localPort,
      }).catch(() => {
        // Without a record the tunnel still works; only reuse by other clients is lost.
      });
    }
    if (stillCurrent() && this.#child) this.#dispatch({ type: 'ready', localPort, reused: false });
  }

  /** Ends ssh's whole process group: SIGTERM, then SIGKILL if it lingers. `reason` is reported as the failure. */
  #killChild(reason: TunnelFailure | undefined): void {
    const child = this.#child;
    if (!child?.pid) return;
    this.#killReason = reason;
    if (!reason) this.#child = undefined;
    const pid = child.pid;
    signalGroup(pid, 'SIGTERM');
    const escalate = setTimeout(() => signalGroup(pid, 'SIGKILL'), KILL_GRACE_MS);
    child.once('exit', () => clearTimeout(escalate));
  }
}

function tunnelError(failure: TunnelFailure): GatewayError {
  return new GatewayError('TUNNEL_FAILED', `ssh tunnel failed: ${failure.message}`, {
    details: { kind: failure.kind, fatal: failure.fatal },
  });
}

function defaultRegistryDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(resolveStateDir(env), 'tunnels');
}
