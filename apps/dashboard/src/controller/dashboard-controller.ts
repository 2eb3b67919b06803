import { randomUUID } from 'node:crypto';
import { errorHints, GatewayError, isGatewayError } from '@loopgate/protocol';
import {
  localGatewayUrl,
  readConnectionSettings,
  resolveSecretSetting,
  saveConnectionSettings,
} from '../config-file/index.js';
import {
  type AgentRunState,
  type GatewayPort,
  isMissingProcedure,
  type LinkStatus,
  type SshSettings,
  type Unsubscribe,
} from '../gateway-port.js';
import type { DashboardLog } from '../log/dashboard-log.js';
import {
  type ConnectionSettings,
  type DashboardStore,
  describeIntent,
  type ErrorView,
  type Feature,
  MUTATING_INTENTS,
  type OperatorIntent,
  type ReceivedEvent,
} from '../state/index.js';

/** Which gateway to open, and how. Missing fields are resolved by the client (env, config, state dir). */
export type ConnectTarget = {
  url?: string;
  token?: string;
  password?: string;
  ssh?: SshSettings;
  /** An ssh config file used instead of ~/.ssh/config (`ssh -F`). */
  sshConfigFile?: string;
  tlsFingerprint?: string[];
  /** A named context from the config (`:ctx`); its url, ssh, pin and secrets come from there. */
  context?: string;
};

/** Opens a port to a gateway; throws a `GatewayError` for a target that cannot be used (bad URL). */
export type PortFactory = (target: ConnectTarget) => GatewayPort;

export type ControllerOptions = {
  store: DashboardStore;
  openPort: PortFactory;
  target: ConnectTarget;
  log: DashboardLog;
  onQuit: () => void;
  /** Round-trip probe and health refresh interval. */
  pollMs?: number;
  /** Events are applied in batches at most this often, so a busy stream does not re-render per event. */
  eventFlushMs?: number;
  /** Related refetches (nodes list after a burst of presence events) are coalesced over this window. */
  refetchDelayMs?: number;
};

const TERMINAL_RUN_STATES: ReadonlySet<AgentRunState> = new Set([
  'completed',
  'failed',
  'cancelled',
]);

type RefetchKind = 'status' | 'nodes' | 'sessions';

/** Same scheme, host and port: `wss://h:1` and `wss://h:1/` are one endpoint. */
function sameEndpoint(a: string, b: string): boolean {
  try {
    const x = new URL(a);
    const y = new URL(b);
    return x.protocol === y.protocol && x.hostname === y.hostname && x.port === y.port;
  } catch {
    // a target that is not a URL (`ssh host`, `local gateway`) is no endpoint to compare
    return false;
  }
}

export function errorViewOf(error: unknown): ErrorView {
  if (isGatewayError(error))
    return { code: error.code, message: error.message, hint: errorHints[error.code] };
  if (error instanceof Error) return { code: 'INTERNAL', message: error.message };
  return { code: 'INTERNAL', message: String(error) };
}

function errorLine(error: ErrorView): string {
  return `${error.code}: ${error.message}${error.hint ? ` — ${error.hint}` : ''}`;
}

/**
 * Feeds the store from a gateway port and carries out operator intents. It
 * owns every timer and subscription, and it never lets an error escape: a
 * failure becomes a notice, a pane error or a link state — the dashboard
 * keeps running whatever the gateway does.
 */
export class DashboardController {
  readonly #store: DashboardStore;
  readonly #openPort: PortFactory;
  readonly #log: DashboardLog;
  readonly #onQuit: () => void;
  readonly #pollMs: number;
  readonly #eventFlushMs: number;
  readonly #refetchDelayMs: number;
  readonly #initialTarget: ConnectTarget;
  #target: ConnectTarget;
  #port: GatewayPort | undefined;
  #detach: Unsubscribe[] = [];
  #eventsEnded = false;
  #pending: ReceivedEvent[] = [];
  #flushTimer: NodeJS.Timeout | undefined;
  #pollTimer: NodeJS.Timeout | undefined;
  #refetchTimer: NodeJS.Timeout | undefined;
  #refetchKinds = new Set<RefetchKind>();
  #runWatch: Unsubscribe | undefined;
  #disposed = false;
  /**
   * Bumped by every presence event. A list fetched before the latest event
   * may predate it (a request already approved still pending), so such an
   * answer is dropped; the refetch that event scheduled brings the fresh one.
   */
  #nodesEpoch = 0;

  constructor(options: ControllerOptions) {
    this.#store = options.store;
    this.#openPort = options.openPort;
    this.#log = options.log;
    this.#onQuit = options.onQuit;
    this.#pollMs = options.pollMs ?? 2_000;
    this.#eventFlushMs = options.eventFlushMs ?? 100;
    this.#refetchDelayMs = options.refetchDelayMs ?? 250;
    this.#initialTarget = options.target;
    this.#target = options.target;
  }

  start(): void {
    void this.#loadSettings();
    this.#attach(this.#target);
    this.#pollTimer = setInterval(() => void this.#poll(), this.#pollMs);
  }

  async dispose(): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    clearInterval(this.#pollTimer);
    clearTimeout(this.#flushTimer);
    clearTimeout(this.#refetchTimer);
    await this.#closePort();
  }

  /** Carries out an intent; never throws (failures are shown). */
  perform(intent: OperatorIntent): void {
    if (this.#disposed) return;
    if (this.#store.getState().readOnly && MUTATING_INTENTS.has(intent.kind)) {
      this.#notice('warn', `read-only mode: ${describeIntent(intent)} is turned off`);
      return;
    }
    this.#log.info('intent', { kind: intent.kind });
    void this.#carryOut(intent).catch((error: unknown) => {
      const view = errorViewOf(error);
      this.#log.warn('intent failed', { kind: intent.kind, code: view.code, error: view.message });
      this.#notice('error', errorLine(view));
    });
  }

  // ── connection ────────────────────────────────────────────────────────────

  #attach(target: ConnectTarget): void {
    let port: GatewayPort;
    try {
      port = this.#openPort(target);
    } catch (error) {
      const view = errorViewOf(error);
      this.#log.warn('cannot open gateway', { code: view.code, error: view.message });
      this.#dispatchLink({ state: 'closed', reason: view.message });
      this.#notice('error', errorLine(view));
      return;
    }
    this.#port = port;
    const dispatch = this.#store.dispatch;
    dispatch({ type: 'target.changed', target: port.target, context: target.context });
    this.#dispatchLink(port.link.get());
    dispatch({ type: 'transport.changed', transport: port.transport.get() });
    this.#detach.push(
      port.link.subscribe((link) => {
        if (this.#port !== port) return;
        this.#log.info('link', {
          state: link.state,
          ...('attempt' in link ? { attempt: link.attempt } : {}),
        });
        this.#dispatchLink(link);
        if (link.state === 'open') this.#onOpen(port);
      }),
      port.transport.subscribe((transport) => {
        if (this.#port === port) dispatch({ type: 'transport.changed', transport });
      }),
    );
    this.#subscribeEvents(port);
    if (port.link.get().state === 'open') this.#onOpen(port);
  }

  #dispatchLink(link: LinkStatus): void {
    this.#store.dispatch({ type: 'link.changed', link, at: Date.now() });
  }

  #onOpen(port: GatewayPort): void {
    if (this.#eventsEnded) this.#subscribeEvents(port);
    void this.#loadAccess(port);
    void this.#poll();
    void this.#refreshAll(false);
  }

  /** The connection's scope, so keys it may not use say so before they are pressed. */
  async #loadAccess(port: GatewayPort): Promise<void> {
    try {
      const access = await port.whoami();
      if (this.#port === port) this.#store.dispatch({ type: 'access.known', access });
    } catch (error) {
      // A gateway from before scopes has no whoami: every key stays as it is, the gateway still decides.
      this.#log.debug('whoami failed', { error: errorViewOf(error).message });
    }
  }

  #subscribeEvents(port: GatewayPort): void {
    this.#eventsEnded = false;
    const unsubscribe = port.subscribeEvents(this.#store.getState().events.lastEventId, {
      onEvent: (id, event) => {
        if (this.#port !== port) return;
        this.#pending.push({ id, event });
        this.#flushTimer ??= setTimeout(() => this.#flushEvents(), this.#eventFlushMs);
      },
      onError: (error) => {
        if (this.#port !== port) return;
        // the next `open` resubscribes from the last id we saw
        this.#eventsEnded = true;
        const view = errorViewOf(error);
        this.#log.warn('event stream ended', { code: view.code, error: view.message });
      },
    });
    this.#detach.push(unsubscribe);
  }

  async #closePort(): Promise<void> {
    this.#runWatch?.();
    this.#runWatch = undefined;
    for (const detach of this.#detach.splice(0)) detach();
    const port = this.#port;
    this.#port = undefined;
    this.#pending = [];
    await port?.close().catch((error: unknown) => {
      // the old link is gone either way; a failed close only matters in the log
      this.#log.debug('closing the gateway port failed', { error: errorViewOf(error).message });
    });
  }

  async #reconnect(target: ConnectTarget): Promise<void> {
    await this.#closePort();
    if (this.#disposed) return;
    this.#target = target;
    this.#attach(target);
  }

  // ── feeding the store ─────────────────────────────────────────────────────

  #flushEvents(): void {
    this.#flushTimer = undefined;
    const batch = this.#pending;
    this.#pending = [];
    if (batch.length === 0) return;
    if (batch.some(({ event }) => event.type.startsWith('node.'))) this.#nodesEpoch++;
    this.#store.dispatch({ type: 'events.received', batch });
    for (const { event } of batch) {
      if (event.type.startsWith('node.')) this.#refetch('nodes');
      else if (event.type.startsWith('session.') || event.type === 'agent.run')
        this.#refetch('sessions');
      else if (event.type === 'channel.status') this.#refetch('status');
      else if (event.type === 'events.gap' || event.type === 'gateway.started') {
        this.#refetch('status');
        this.#refetch('nodes');
        this.#refetch('sessions');
      }
    }
  }

  #refetch(kind: RefetchKind): void {
    this.#refetchKinds.add(kind);
    this.#refetchTimer ??= setTimeout(() => {
      this.#refetchTimer = undefined;
      const kinds = [...this.#refetchKinds];
      this.#refetchKinds.clear();
      for (const k of kinds) {
        if (k === 'status') void this.#loadStatus(false);
        if (k === 'nodes') void this.#loadNodes();
        if (k === 'sessions') void this.#loadSessions();
      }
    }, this.#refetchDelayMs);
  }

  async #poll(): Promise<void> {
    const port = this.#port;
    if (port?.link.get().state !== 'open') return;
    const started = performance.now();
    try {
      const health = await port.health();
      if (this.#port !== port) return;
      this.#store.dispatch({
        type: 'rtt.measured',
        ms: Math.round((performance.now() - started) * 10) / 10,
      });
      this.#store.dispatch({ type: 'health.loaded', health, at: Date.now() });
    } catch (error) {
      this.#log.debug('health probe failed', { error: errorViewOf(error).message });
    }
  }

  async #refreshAll(deep: boolean): Promise<void> {
    await Promise.all([this.#loadStatus(deep), this.#loadNodes(), this.#loadSessions()]);
    const { sessionId } = this.#store.getState().chat;
    if (sessionId) await this.#loadHistory(sessionId);
  }

  /** Runs a read for a feature, marking the feature available or not; other errors go to `onError`. */
  async #guard<T>(
    feature: Feature,
    read: () => Promise<T>,
    onError?: (error: ErrorView) => void,
  ): Promise<T | undefined> {
    const port = this.#port;
    try {
      const value = await read();
      if (this.#port === port)
        this.#store.dispatch({ type: 'feature.availability', feature, availability: 'available' });
      return this.#port === port ? value : undefined;
    } catch (error) {
      if (this.#port !== port) return undefined;
      if (isMissingProcedure(error)) {
        this.#store.dispatch({
          type: 'feature.availability',
          feature,
          availability: 'unavailable',
        });
        return undefined;
      }
      const view = errorViewOf(error);
      this.#log.debug('read failed', { feature, code: view.code, error: view.message });
      onError?.(view);
      return undefined;
    }
  }

  async #loadStatus(deep: boolean): Promise<void> {
    const port = this.#port;
    if (!port) return;
    const status = await this.#guard(
      'status',
      () => port.status(deep),
      (error) => this.#store.dispatch({ type: 'status.failed', error }),
    );
    if (status) this.#store.dispatch({ type: 'status.loaded', status });
  }

  async #loadNodes(): Promise<void> {
    const port = this.#port;
    if (!port) return;
    const onError = (error: ErrorView) => this.#store.dispatch({ type: 'nodes.failed', error });
    const epoch = this.#nodesEpoch;
    const [nodes, pending] = await Promise.all([
      this.#guard('nodes', () => port.listNodes(), onError),
      this.#guard('pairing', () => port.listPairRequests(), onError),
    ]);
    if (epoch !== this.#nodesEpoch) return;
    if (nodes) this.#store.dispatch({ type: 'nodes.loaded', nodes });
    if (pending) this.#store.dispatch({ type: 'pairing.loaded', pending });
  }

  async #loadSessions(): Promise<void> {
    const port = this.#port;
    if (!port) return;
    const sessions = await this.#guard(
      'sessions',
      () => port.listSessions(),
      (error) => this.#store.dispatch({ type: 'chat.failed', error }),
    );
    if (sessions) this.#store.dispatch({ type: 'chat.sessions-loaded', sessions });
  }

  async #loadHistory(sessionId: string): Promise<void> {
    const port = this.#port;
    if (!port) return;
    const history = await this.#guard(
      'sessions',
      () => port.sessionHistory(sessionId),
      (error) => this.#store.dispatch({ type: 'chat.failed', error }),
    );
    if (history) this.#store.dispatch({ type: 'chat.history-loaded', sessionId, history });
  }

  async #loadSettings(): Promise<void> {
    const { configPath } = this.#store.getState().connection;
    try {
      const settings = await readConnectionSettings(configPath);
      this.#store.dispatch({ type: 'connection.loaded', settings, configPath });
    } catch (error) {
      this.#notice('warn', `config file: ${errorViewOf(error).message}`);
    }
  }

  #notice(level: 'info' | 'ok' | 'warn' | 'error', text: string): void {
    this.#store.dispatch({ type: 'notice', notice: { level, text } });
  }

  // ── intents ───────────────────────────────────────────────────────────────

  #requirePort(): GatewayPort {
    if (!this.#port) throw new GatewayError('UNAVAILABLE', 'not connected to a gateway');
    return this.#port;
  }

  /** A write the gateway may not have: "not available" instead of a raw error. */
  async #write<T>(
    feature: Feature,
    what: string,
    action: (port: GatewayPort) => Promise<T>,
  ): Promise<T | undefined> {
    const port = this.#requirePort();
    try {
      return await action(port);
    } catch (error) {
      if (!isMissingProcedure(error)) throw error;
      this.#store.dispatch({ type: 'feature.availability', feature, availability: 'unavailable' });
      this.#notice('warn', `${what} is not available on this gateway`);
      return undefined;
    }
  }

  async #carryOut(intent: OperatorIntent): Promise<void> {
    const dispatch = this.#store.dispatch;
    switch (intent.kind) {
      case 'quit':
        this.#onQuit();
        return;
      case 'refresh':
        await this.#refreshAll(intent.deep);
        this.#notice('info', intent.deep ? 'deep status refreshed' : 'refreshed');
        return;
      case 'approve-pairing': {
        const done = await this.#write('pairing', 'pairing', (p) =>
          p.approvePairing(intent.requestId).then(() => true),
        );
        if (done) this.#notice('ok', `approved "${intent.name}"`);
        this.#refetch('nodes');
        return;
      }
      case 'reject-pairing': {
        const done = await this.#write('pairing', 'pairing', (p) =>
          p.rejectPairing(intent.requestId).then(() => true),
        );
        if (done) this.#notice('ok', `rejected "${intent.name}"`);
        this.#refetch('nodes');
        return;
      }
      case 'remove-node': {
        const done = await this.#write('pairing', 'removing nodes', (p) =>
          p.removeNode(intent.nodeId).then(() => true),
        );
        if (done) this.#notice('ok', `removed "${intent.name}"`);
        this.#refetch('nodes');
        return;
      }
      case 'invoke':
        await this.#invoke(intent);
        return;
      case 'send': {
        const sent = await this.#write('send', 'send', (p) =>
          p.send({
            channel: intent.channel,
            to: intent.to,
            text: intent.text,
            idempotencyKey: randomUUID(),
          }),
        );
        if (sent)
          this.#notice(
            'ok',
            `sent to ${intent.to} on ${intent.channel}${sent.messageId ? ` (${sent.messageId})` : ''}`,
          );
        return;
      }
      case 'chat':
        await this.#chat(intent.sessionId, intent.text);
        return;
      case 'open-session':
        dispatch({ type: 'chat.session-opened', sessionId: intent.sessionId });
        await this.#loadHistory(intent.sessionId);
        return;
      case 'connect':
      case 'use-context':
      case 'apply-connection':
      case 'save-connection':
      case 'pin-fingerprint':
        await this.#connectionIntent(intent);
        return;
      case 'restart-tunnel':
        await this.#requirePort().restartTunnel();
        this.#notice('info', 'restarting the SSH tunnel');
        return;
    }
  }

  /** Runs a command on a node; the result or the typed error goes to the Nodes pane. */
  async #invoke(intent: Extract<OperatorIntent, { kind: 'invoke' }>): Promise<void> {
    const dispatch = this.#store.dispatch;
    const paramsText = JSON.stringify(intent.params);
    dispatch({
      type: 'invoke.started',
      nodeId: intent.nodeId,
      command: intent.command,
      paramsText,
      at: Date.now(),
    });
    try {
      const result = await this.#write('nodes', 'invoking nodes', (p) =>
        p.invokeNode({
          nodeId: intent.nodeId,
          command: intent.command,
          params: intent.params,
          idempotencyKey: randomUUID(),
        }),
      );
      const resultText =
        result === undefined ? '(no result)' : (JSON.stringify(result, null, 2) ?? String(result));
      dispatch({ type: 'invoke.succeeded', resultText, at: Date.now() });
    } catch (error) {
      dispatch({ type: 'invoke.failed', error: errorViewOf(error), at: Date.now() });
    }
  }

  /** Another target, the edited settings, a save or a new pin: the Connection pane's intents. */
  async #connectionIntent(
    intent: Extract<
      OperatorIntent,
      {
        kind:
          | 'connect'
          | 'use-context'
          | 'apply-connection'
          | 'save-connection'
          | 'pin-fingerprint';
      }
    >,
  ): Promise<void> {
    const dispatch = this.#store.dispatch;
    switch (intent.kind) {
      case 'connect': {
        const sameAsStart = intent.url === this.#initialTarget.url;
        // credentials given for one gateway are not handed to another one
        const target: ConnectTarget = sameAsStart
          ? { ...this.#initialTarget }
          : { url: intent.url };
        this.#notice('info', `connecting to ${intent.url}`);
        await this.#reconnect(target);
        return;
      }
      case 'use-context': {
        // Only the context's own credentials: nothing given for the previous gateway goes along.
        this.#notice('info', `switching to context ${intent.name}`);
        await this.#reconnect({ context: intent.name });
        return;
      }
      case 'apply-connection': {
        const { draft, configPath } = this.#store.getState().connection;
        const target = await this.#targetFor(draft, configPath);
        this.#notice('info', `connecting (${draft.mode})`);
        await this.#reconnect(target);
        return;
      }
      case 'save-connection': {
        const { draft, configPath } = this.#store.getState().connection;
        const saved = await saveConnectionSettings(configPath, draft);
        dispatch({ type: 'connection.saved', settings: draft });
        const inline = [draft.token, draft.password].some((s) => s?.from === 'inline');
        this.#notice(
          saved.commentsKept && !inline ? 'ok' : 'warn',
          `saved gateway.mode and gateway.remote to ${saved.path}${saved.commentsKept ? '' : ' (the file was rewritten: comments were not kept)'}${inline ? '; a typed secret is now in the file: prefer file:<path> or env:<NAME>' : ''}`,
        );
        return;
      }
      case 'pin-fingerprint': {
        // the pin becomes exactly the certificate the operator just verified (a re-pin drops the old one)
        const pins = [intent.fingerprint];
        const { saved, configPath, target } = this.#store.getState().connection;
        dispatch({
          type: 'connection.field-set',
          field: 'tlsFingerprint',
          value: intent.fingerprint,
        });
        if (saved.url !== '' && sameEndpoint(saved.url, target)) {
          const pinned = { ...saved, tlsFingerprint: pins };
          await saveConnectionSettings(configPath, pinned);
          dispatch({ type: 'connection.saved', settings: pinned });
          this.#notice(
            'ok',
            `pinned ${intent.fingerprint} in gateway.remote.tlsFingerprint; reconnecting`,
          );
        } else {
          // the config's remote is another gateway (or none): do not pin this one's certificate to it
          this.#notice(
            'ok',
            `pinned ${intent.fingerprint} for this session (w saves it with the edited settings); reconnecting`,
          );
        }
        await this.#reconnect({ ...this.#target, tlsFingerprint: pins });
        return;
      }
    }
  }

  async #targetFor(settings: ConnectionSettings, configPath: string): Promise<ConnectTarget> {
    if (settings.mode === 'local') {
      // the gateway this dashboard was started on (`--url`, with its credentials) is the local one here
      const started = this.#initialTarget;
      if (started.url && !started.ssh && !started.context) return { ...started };
      return { url: await localGatewayUrl(configPath) };
    }
    const token = await resolveSecretSetting(settings.token, 'token', configPath);
    const password = await resolveSecretSetting(settings.password, 'password', configPath);
    return {
      ...(settings.url ? { url: settings.url } : {}),
      ...(settings.ssh ? { ssh: settings.ssh } : {}),
      ...(settings.tlsFingerprint.length > 0 ? { tlsFingerprint: settings.tlsFingerprint } : {}),
      ...(token ? { token } : {}),
      ...(password ? { password } : {}),
    };
  }

  async #chat(sessionId: string | undefined, text: string): Promise<void> {
    const dispatch = this.#store.dispatch;
    dispatch({ type: 'chat.sent', text });
    let started: { runId: string; sessionId: string | undefined } | undefined;
    try {
      started = await this.#write('agent', 'the agent', (p) =>
        p.startAgentRun({ sessionId, message: text, idempotencyKey: randomUUID() }),
      );
    } catch (error) {
      dispatch({ type: 'chat.failed', error: errorViewOf(error) });
      return;
    }
    if (!started) {
      dispatch({
        type: 'chat.failed',
        error: { code: 'UNAVAILABLE', message: 'the agent is not available on this gateway' },
      });
      return;
    }
    const { runId } = started;
    dispatch({ type: 'chat.run-started', runId, sessionId: started.sessionId });
    this.#runWatch?.();
    const port = this.#requirePort();
    const stop = port.watchAgentRun(runId, {
      onUpdate: (update) => {
        dispatch({ type: 'chat.run-updated', runId, update });
        if (update.kind === 'state' && TERMINAL_RUN_STATES.has(update.state)) {
          this.#runWatch?.();
          this.#runWatch = undefined;
          this.#refetch('sessions');
          if (started?.sessionId) void this.#loadHistory(started.sessionId);
        }
      },
      onError: (error) => {
        const view = errorViewOf(error);
        this.#log.warn('agent run stream failed', { runId, code: view.code, error: view.message });
        dispatch({ type: 'chat.failed', error: view });
      },
    });
    this.#runWatch = stop;
  }
}
