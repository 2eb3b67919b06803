import { rm } from 'node:fs/promises';
import { homedir, platform as osPlatform } from 'node:os';
import { join } from 'node:path';
import {
  type ConnectionState,
  createGatewayClient,
  type GatewayClient,
  type GatewayClientOptions,
  isFinalState,
  nextReconnectDelay,
} from '@loopgate/client';
import {
  CloseCode,
  Deadlines,
  GatewayError,
  type GatewayErrorCode,
  LOOPGATE_VERSION,
  type NodeInvocationMessage,
  type NodePairUpdate,
  untrustedPathReason,
} from '@loopgate/protocol';
import { Cancellation } from './cancellation.js';
import { type CommandContext, type NodeCommands, runCommand } from './commands.js';
import { loadOrCreateNodeKey, type NodeKey, nodeKeyPath } from './node-key.js';
import {
  dropLegacyNodeToken,
  loadNodeState,
  type NodeState,
  nodeStatePath,
  saveNodeState,
} from './node-state-file.js';

export type NodeStatus = 'idle' | 'pairing' | 'connecting' | 'online' | 'reconnecting' | 'stopped';

/** What a node reports about itself (for a host's log lines or UI). */
export type NodeEvent =
  | { type: 'status'; status: NodeStatus; error?: GatewayError }
  /**
   * Waiting for an operator. `pairingCode` is derived here from the node's own
   * key; the operator approves only if `loopgate nodes pending` shows the same.
   */
  | { type: 'pairing.pending'; requestId: string; pairingCode: string; expiresAt: number }
  | { type: 'paired'; nodeId: string; approvedCommands: string[] }
  | { type: 'hello'; nodeId: string; allowedCommands: string[]; notApproved: string[] }
  | { type: 'invocation.started'; invocationId: string; command: string }
  | {
      type: 'invocation.finished';
      invocationId: string;
      command: string;
      ok: boolean;
      durationMs: number;
      errorCode?: string;
    }
  | { type: 'invocation.cancelled'; invocationId: string; command: string; reason: string }
  | { type: 'warning'; message: string }
  /** A connection attempt failed (or a live one dropped); the next one starts in `retryInMs`. */
  | {
      type: 'retrying';
      url: string;
      attempt: number;
      retryInMs: number;
      error?: GatewayError;
    };

export type CreateNodeOptions = {
  /** How operators will know this node: letters, digits, `.`, `_`, `-`. */
  name: string;
  commands: NodeCommands;
  /** Default: `LOOPGATE_GATEWAY_URL`, the config file, else `ws://127.0.0.1:18789`. */
  url?: string;
  /** The gateway's operator credential, only if your deployment requires one from nodes too. */
  token?: string;
  /**
   * Where `node-<name>.key` (the node's Ed25519 private key) and
   * `node-<name>.json` (its node id) live, mode 0600. Default `~/.loopgate`.
   */
  stateDir?: string;
  platform?: string;
  version?: string;
  /** Invocations run at once; more are answered with LIMIT_EXCEEDED. Default 32. */
  maxConcurrent?: number;
  /** Transport options for the underlying client (TLS pinning, SSH tunnel socket, backoff...). */
  client?: Omit<
    GatewayClientOptions,
    'url' | 'role' | 'proveChallenge' | 'token' | 'password' | 'clientName' | 'clientVersion'
  >;
  onEvent?: (event: NodeEvent) => void;
};

export interface LoopgateNode {
  readonly name: string;
  readonly status: NodeStatus;
  /** Known once paired. */
  readonly nodeId: string | undefined;
  /**
   * Pairs if needed (waiting for an operator's approval), connects and
   * subscribes. Resolves once the node is online; rejects if the gateway
   * refuses it (rejected, removed, key not the one paired).
   */
  start(): Promise<void>;
  /** Cancels running commands, closes the connection. */
  stop(): Promise<void>;
  /**
   * Settles when the node has ended for good: resolves after `stop()`,
   * rejects with a `GatewayError` when the gateway ended it.
   */
  readonly done: Promise<void>;
}

/** Errors after which asking again cannot help. */
const FATAL_PAIRING_CODES: ReadonlySet<GatewayErrorCode> = new Set([
  'CONFLICT',
  'BAD_REQUEST',
  'UNAUTHORIZED',
  'FORBIDDEN',
  'NOT_PAIRED',
  'TLS_PIN_MISMATCH',
]);
const RETRY_BACKOFF = { baseMs: 1_000, capMs: 30_000 };

/**
 * A node: on first run makes its key pair and pairs (the operator compares
 * the pairing code), then proves its key on every connect,
 * receives invocations over a subscription the client resumes after every
 * reconnect (with jittered backoff), runs the matching handler with an
 * AbortSignal that fires on cancel or deadline, and answers with the result
 * or a typed error. A throwing handler never takes the node down.
 *
 * ```ts
 * const node = createNode({
 *   name: 'build-box',
 *   commands: { 'disk.free': async () => ({ freeBytes: await freeBytes('/') }) },
 * });
 * await node.start();
 * ```
 */
export function createNode(options: CreateNodeOptions): LoopgateNode {
  return new NodeRuntime(options);
}

type Running = { cancel: Cancellation; command: string };

class NodeRuntime implements LoopgateNode {
  readonly name: string;
  readonly #opts: CreateNodeOptions;
  readonly #statePath: string;
  readonly #keyPath: string;
  #key: NodeKey | undefined;
  readonly #stateDir: string;
  readonly #running = new Map<string, Running>();
  /** Each running command's deadline, one timer for all of them. */
  readonly #deadlines = new Deadlines();
  readonly #stop = new AbortController();
  #status: NodeStatus = 'idle';
  #nodeId: string | undefined;
  #client: GatewayClient | undefined;
  #pairingClient: GatewayClient | undefined;
  #limits = { maxResultBytes: 4 * 1024 * 1024 };
  #startPromise: Promise<void> | undefined;
  #streamStarted = false;
  #endedWith: GatewayError | undefined;
  #finish!: (error?: GatewayError) => void;
  readonly done: Promise<void>;

  constructor(options: CreateNodeOptions) {
    this.#opts = options;
    this.name = options.name;
    this.#stateDir = options.stateDir ?? join(homedir(), '.loopgate');
    this.#statePath = nodeStatePath(this.#stateDir, options.name);
    this.#keyPath = nodeKeyPath(this.#stateDir, options.name);
    let settled = false;
    this.done = new Promise<void>((resolve, reject) => {
      this.#finish = (error) => {
        if (settled) return;
        settled = true;
        if (error) reject(error);
        else resolve();
      };
    });
    // Observed or not, an ending must never become an unhandled rejection.
    this.done.catch(() => {});
  }

  get status(): NodeStatus {
    return this.#status;
  }

  get nodeId(): string | undefined {
    return this.#nodeId;
  }

  start(): Promise<void> {
    this.#startPromise ??= this.#start().catch(async (error: unknown) => {
      const stopped = this.#stop.signal.aborted;
      await this.#end(asGatewayError(error));
      // whoever ended the node first (a revoke, stop(), this failure) says why
      if (this.#endedWith) throw this.#endedWith;
      throw stopped ? new GatewayError('CANCELLED', 'the node was stopped') : asGatewayError(error);
    });
    return this.#startPromise;
  }

  async stop(): Promise<void> {
    await this.#end(undefined);
  }

  async #start(): Promise<void> {
    // The node's key and pairing record live there: whoever may write it could swap in their own.
    const unsafe = untrustedPathReason(this.#stateDir);
    if (unsafe) {
      throw new GatewayError(
        'BAD_REQUEST',
        `refusing the node's state dir: ${this.#stateDir} ${unsafe}`,
        {
          details: { stateDir: this.#stateDir },
        },
      );
    }
    if (await dropLegacyNodeToken(this.#statePath, this.name)) {
      this.#emit({
        type: 'warning',
        message: `removed the node token of an earlier version from ${this.#statePath}: nodes now prove a key, so this node asks to be paired again (an operator removes the old entry first: loopgate nodes remove ${this.name})`,
      });
    }
    const state = await loadNodeState(this.#statePath, this.name);
    const key = await loadOrCreateNodeKey(this.#keyPath);
    this.#key = key;
    this.#nodeId = state.nodeId;
    const nodeId = state.nodeId ?? (await this.#pair(state, key));
    this.#throwIfStopped();
    try {
      await this.#connect(nodeId, key);
    } catch (error) {
      throw await this.#sessionFailure(asGatewayError(error));
    }
  }

  // ------------------------------------------------------------ pairing

  async #pair(state: NodeState, key: NodeKey): Promise<string> {
    this.#setStatus('pairing');
    const client = createGatewayClient({
      ...this.#opts.client,
      ...(this.#opts.url ? { url: this.#opts.url } : {}),
      ...(this.#opts.token ? { token: this.#opts.token } : {}),
      role: 'node',
      proveChallenge: (challenge) => key.prove(challenge),
      clientName: `loopgate-node ${this.name}`,
      clientVersion: LOOPGATE_VERSION,
    });
    this.#pairingClient = client;
    client.connection.subscribe((state) => this.#onRetry(client, state));
    try {
      for (let attempt = 0; ; ) {
        this.#throwIfStopped();
        let update: NodePairUpdate;
        try {
          update = await this.#awaitDecision(client, key);
        } catch (error) {
          const failure = asGatewayError(error);
          const final = isFinalState(client.connection.get());
          if (this.#stop.signal.aborted || final || FATAL_PAIRING_CODES.has(failure.code))
            throw failure;
          this.#emit({
            type: 'warning',
            message: `pairing request failed (${failure.message}); asking again`,
          });
          await delay(nextReconnectDelay(attempt++, Math.random, RETRY_BACKOFF), this.#stop.signal);
          continue;
        }
        if (update.status === 'approved') {
          state.nodeId = update.nodeId;
          state.gatewayUrl = client.connection.url;
          await saveNodeState(this.#statePath, state);
          this.#nodeId = update.nodeId;
          this.#emit({
            type: 'paired',
            nodeId: update.nodeId,
            approvedCommands: update.approvedCommands,
          });
          return update.nodeId;
        }
        if (update.status === 'rejected') {
          // The gateway remembers this key as rejected: the next run asks with a new key (and code).
          await rm(this.#keyPath, { force: true });
          const why = update.reason ? `: ${update.reason}` : '';
          throw new GatewayError('NOT_PAIRED', `an operator rejected the pairing request${why}`);
        }
        this.#emit({
          type: 'warning',
          message: 'the pairing request expired without a decision; asking again',
        });
        attempt = 0;
      }
    } finally {
      this.#pairingClient = undefined;
      await client.close();
    }
  }

  /** One `node.pair.request` subscription until it yields a decision. */
  #awaitDecision(client: GatewayClient, key: NodeKey): Promise<NodePairUpdate> {
    return new Promise<NodePairUpdate>((resolve, reject) => {
      let decided = false;
      const subscription = client.node.pair.request.subscribe(
        {
          name: this.name,
          platform: this.#platform,
          version: this.#version,
          commands: Object.keys(this.#opts.commands),
        },
        {
          signal: this.#stop.signal,
          onData: (update) => {
            if (update.status === 'pending') {
              if (update.pairingCode !== key.pairingCode) {
                // Something between us and the gateway swapped the key: tell the operator not to approve.
                this.#emit({
                  type: 'warning',
                  message: `the gateway shows pairing code ${update.pairingCode}, but this node's key has ${key.pairingCode}: do not approve; check the connection to the gateway`,
                });
              }
              this.#emit({
                type: 'pairing.pending',
                requestId: update.requestId,
                pairingCode: key.pairingCode,
                expiresAt: update.expiresAt,
              });
              return;
            }
            decided = true;
            resolve(update);
          },
          onError: (error) => reject(error),
          onComplete: () => {
            if (!decided)
              reject(
                new GatewayError('UNAVAILABLE', 'the pairing request ended without a decision'),
              );
          },
        },
      );
      this.#stop.signal.addEventListener(
        'abort',
        () => {
          subscription.unsubscribe();
          reject(new GatewayError('CANCELLED', 'the node was stopped'));
        },
        { once: true },
      );
    });
  }

  // ------------------------------------------------------------ session

  async #connect(nodeId: string, key: NodeKey): Promise<void> {
    this.#setStatus('connecting');
    const client = createGatewayClient({
      ...this.#opts.client,
      ...(this.#opts.url ? { url: this.#opts.url } : {}),
      ...(this.#opts.token ? { token: this.#opts.token } : {}),
      role: 'node',
      proveChallenge: (challenge) => key.prove(challenge, nodeId),
      clientName: `loopgate-node ${this.name}`,
      clientVersion: LOOPGATE_VERSION,
    });
    this.#client = client;
    client.connection.subscribe((state) => {
      this.#onRetry(client, state);
      this.#onConnectionState(state);
    });
    const declaration = {
      commands: Object.keys(this.#opts.commands),
      platform: this.#platform,
      version: this.#version,
    };
    const hello = await this.#hello(client, declaration);
    this.#nodeId = hello.nodeId;
    this.#limits = { maxResultBytes: hello.limits.maxResultBytes };
    this.#emit({
      type: 'hello',
      nodeId: hello.nodeId,
      allowedCommands: hello.allowedCommands,
      notApproved: hello.notApproved,
    });
    if (hello.notApproved.length > 0) {
      this.#emit({
        type: 'warning',
        message: `not approved at pairing, so not invocable: ${hello.notApproved.join(', ')}`,
      });
    }
    await new Promise<void>((resolve, reject) => {
      // stopped before the stream started: nothing else would settle this
      this.#stop.signal.addEventListener(
        'abort',
        () => reject(new GatewayError('CANCELLED', 'the node was stopped')),
        { once: true },
      );
      client.node.invocations.subscribe(declaration, {
        signal: this.#stop.signal,
        onStarted: () => {
          this.#streamStarted = true;
          this.#setStatus('online');
          resolve();
        },
        onData: (envelope) => this.#onMessage(envelope.data),
        onError: (error) => {
          if (!this.#streamStarted) {
            reject(error);
            return;
          }
          // The connection ended for good (revoked, token refused), or the
          // gateway refused the resumed stream: nothing more will come.
          void this.#endedByGateway(error);
        },
      });
    });
  }

  /**
   * `node.hello`, retried while the gateway cannot be reached (a node host
   * started before its gateway, or during a restart) until it answers or
   * refuses.
   */
  async #hello(
    client: GatewayClient,
    declaration: Parameters<GatewayClient['node']['hello']['mutate']>[0],
  ): Promise<Awaited<ReturnType<GatewayClient['node']['hello']['mutate']>>> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await client.node.hello.mutate(declaration);
      } catch (error) {
        const failure = asGatewayError(error);
        if (failure.code !== 'UNAVAILABLE' || isFinalState(client.connection.get())) throw failure;
        this.#throwIfStopped();
        if (attempt === 0) this.#emit({ type: 'warning', message: `${failure.message}; retrying` });
        await delay(nextReconnectDelay(attempt, Math.random, RETRY_BACKOFF), this.#stop.signal);
        this.#throwIfStopped();
      }
    }
  }

  #onConnectionState(state: ConnectionState): void {
    if (this.#stop.signal.aborted) return;
    switch (state.state) {
      case 'open':
        // a resumed subscription is silent; the socket being back is the sign
        if (this.#streamStarted) this.#setStatus('online');
        return;
      case 'reconnecting':
        // The gateway failed our calls with NODE_DISCONNECTED already: stop the work.
        this.#abortRunning('connection lost');
        this.#setStatus('reconnecting', state.error);
        return;
      case 'unauthorized':
      case 'pin-mismatch':
      case 'closed':
        void this.#endedByGateway(state.error);
        return;
      default:
        return;
    }
  }

  async #endedByGateway(error: GatewayError | undefined): Promise<void> {
    if (this.#stop.signal.aborted) return;
    await this.#end(
      error
        ? await this.#sessionFailure(error)
        : new GatewayError('UNAVAILABLE', 'the connection to the gateway was closed'),
    );
  }

  /**
   * What a refused session means to the operator. A node id the gateway no
   * longer knows (removed, or its state was reset) is forgotten, so the next
   * start pairs again; the key stays.
   */
  async #sessionFailure(error: GatewayError): Promise<GatewayError> {
    const closeCode = error.details?.closeCode;
    const revoked = closeCode === CloseCode.revoked;
    if (!revoked && error.code !== 'UNAUTHORIZED' && error.code !== 'NOT_PAIRED') return error;
    // Could not delete the stale node id file: the refusal below is still the error to report.
    const forgotten = await this.#forgetNodeId().catch(() => false);
    const why = revoked
      ? 'an operator removed this node'
      : `the gateway refused this node (${error.message})`;
    const next = forgotten
      ? `start it again to request pairing (pairing code ${this.#key?.pairingCode ?? 'unknown'})`
      : `its node id stays in ${this.#statePath} because another gateway paired it`;
    return new GatewayError('NOT_PAIRED', `${why}; ${next}`, { details: error.details ?? {} });
  }

  /** Drops the stored node id if it came from the gateway we are connected to; returns whether it did. */
  async #forgetNodeId(): Promise<boolean> {
    const state = await loadNodeState(this.#statePath, this.name);
    const url = this.#client?.connection.url;
    if (state.gatewayUrl && url && state.gatewayUrl !== url) return false;
    delete state.nodeId;
    await saveNodeState(this.#statePath, state);
    return true;
  }

  // ------------------------------------------------------------ invocations

  #onMessage(message: NodeInvocationMessage): void {
    if (message.kind === 'cancel') {
      const running = this.#running.get(message.invocationId);
      // Finished, or already stopped by its own deadline: nothing left to cancel.
      if (
        !running?.cancel.abort(
          new GatewayError('CANCELLED', `cancelled by the gateway (${message.reason})`),
        )
      )
        return;
      this.#emit({
        type: 'invocation.cancelled',
        invocationId: message.invocationId,
        command: running.command,
        reason: message.reason,
      });
      return;
    }
    void this.#runInvocation(message);
  }

  async #runInvocation(message: Extract<NodeInvocationMessage, { kind: 'invoke' }>): Promise<void> {
    const client = this.#client;
    if (!client) return;
    const { invocationId, command } = message;
    const max = this.#opts.maxConcurrent ?? 32;
    if (this.#running.size >= max) {
      await this.#post(client, {
        invocationId,
        ok: false,
        error: { code: 'LIMIT_EXCEEDED', message: `this node is already running ${max} commands` },
      });
      return;
    }
    const cancel = new Cancellation();
    this.#running.set(invocationId, { cancel, command });
    // The node's own deadline is the gateway's timeout: whichever fires first stops the
    // command (the gateway's cancel can arrive after this, and is then ignored), and
    // either way the node says it stopped it.
    const expiry = this.#deadlines.add(message.timeoutMs, () => {
      if (!cancel.abort(new GatewayError('TIMEOUT', 'the deadline passed'))) return;
      this.#emit({ type: 'invocation.cancelled', invocationId, command, reason: 'timeout' });
    });
    const started = Date.now();
    this.#emit({ type: 'invocation.started', invocationId, command });
    const context = new InvocationContext(message, cancel, client);
    try {
      const result = await runCommand(this.#opts.commands, message, context, this.#limits, cancel);
      if (!result) return;
      this.#emit({
        type: 'invocation.finished',
        invocationId,
        command,
        ok: result.ok,
        durationMs: Date.now() - started,
        ...(result.ok ? {} : { errorCode: result.error.code }),
      });
      await this.#post(client, result);
    } finally {
      expiry.cancel();
      this.#running.delete(invocationId);
    }
  }

  async #post(
    client: GatewayClient,
    result: Parameters<GatewayClient['node']['result']['mutate']>[0],
  ): Promise<void> {
    try {
      await client.node.result.mutate(result);
    } catch (error) {
      // Connection loss: the gateway already told the caller NODE_DISCONNECTED.
      const failure = asGatewayError(error);
      if (failure.code !== 'UNAVAILABLE' && failure.code !== 'CANCELLED') {
        this.#emit({
          type: 'warning',
          message: `the gateway refused a result: ${failure.message}`,
        });
      }
    }
  }

  #abortRunning(reason: string): void {
    for (const [invocationId, running] of this.#running) {
      running.cancel.abort(new GatewayError('CANCELLED', reason));
      this.#emit({ type: 'invocation.cancelled', invocationId, command: running.command, reason });
    }
  }

  // ------------------------------------------------------------ lifecycle

  async #end(error: GatewayError | undefined): Promise<void> {
    if (this.#stop.signal.aborted) {
      // Already ending: whoever started the end reports how it went.
      await this.done.catch(() => {});
      return;
    }
    this.#stop.abort();
    this.#abortRunning('the node is stopping');
    this.#deadlines.clear();
    const clients = [this.#client, this.#pairingClient].filter(
      (c): c is GatewayClient => c !== undefined,
    );
    // Stopping: a client that fails to close is dropped with the process state anyway.
    await Promise.all(clients.map((c) => c.close().catch(() => {})));
    this.#endedWith = error;
    this.#setStatus('stopped', error);
    this.#finish(error);
  }

  #throwIfStopped(): void {
    if (this.#stop.signal.aborted) throw new GatewayError('CANCELLED', 'the node was stopped');
  }

  get #platform(): string {
    return this.#opts.platform ?? osPlatform();
  }

  get #version(): string {
    return this.#opts.version ?? LOOPGATE_VERSION;
  }

  /** No silent waits: every failed attempt says where it dialled, why it failed and when it retries. */
  #onRetry(client: GatewayClient, state: ConnectionState): void {
    if (state.state !== 'reconnecting' || this.#stop.signal.aborted) return;
    this.#emit({
      type: 'retrying',
      url: client.connection.url,
      attempt: state.attempt,
      retryInMs: state.retryInMs ?? 0,
      ...(state.error ? { error: state.error } : {}),
    });
  }

  #setStatus(status: NodeStatus, error?: GatewayError): void {
    if (this.#status === status) return;
    this.#status = status;
    this.#emit({ type: 'status', status, ...(error ? { error } : {}) });
  }

  #emit(event: NodeEvent): void {
    try {
      this.#opts.onEvent?.(event);
    } catch {
      // a host's logging callback must not break the node
    }
  }
}

function asGatewayError(error: unknown): GatewayError {
  if (error instanceof GatewayError) return error;
  return new GatewayError('INTERNAL', error instanceof Error ? error.message : String(error));
}

function delay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    if (signal.aborted) {
      resolve();
      return;
    }
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/**
 * What a command gets besides its params. A class rather than an object
 * literal with a getter, which V8 cannot clone from a boilerplate and
 * builds property by property (~290 ns against ~15 ns here, per
 * invocation); `signal` is still made only when a command reads it (see
 * Cancellation).
 */
class InvocationContext implements CommandContext {
  readonly invocationId: string;
  readonly command: string;
  readonly deadline: number;
  readonly #cancel: Cancellation;
  readonly #client: GatewayClient;

  constructor(
    message: { invocationId: string; command: string; deadline: number },
    cancel: Cancellation,
    client: GatewayClient,
  ) {
    this.invocationId = message.invocationId;
    this.command = message.command;
    this.deadline = message.deadline;
    this.#cancel = cancel;
    this.#client = client;
  }

  get signal(): AbortSignal {
    return this.#cancel.signal;
  }

  /** An own property, so a command may take it out of its context (`{ progress }`) and call it. */
  readonly progress = (update: { message?: string; percent?: number }): void => {
    if (this.#cancel.aborted) return;
    // Progress is best effort: the result still goes out, and a lost socket is reported by the session.
    this.#client.node.progress
      .mutate({ invocationId: this.invocationId, ...update })
      .catch(() => {});
  };
}
