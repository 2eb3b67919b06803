import { randomBytes } from 'node:crypto';
import {
  type AgentRunEvent,
  type AgentRunResult,
  type AgentRunState,
  type AgentStartOutput,
  GatewayError,
  type GatewayEventInput,
  isGatewayError,
  type LoopgateConfig,
  type MessageSource,
  type RunError,
  type SessionInfo,
  type SessionsDeleteOutput,
  TERMINAL_RUN_STATES,
  type TranscriptEntryInput,
} from '@loopgate/protocol';
import type { Logger } from 'pino';
import { raceAbort } from '../abort.js';
import { IdempotencyCache } from '../idempotency/index.js';
import type { SessionMeta, SessionStore } from '../sessions/index.js';
import { LocalProvider } from './local-provider.js';
import { OpenAiProvider } from './openai-provider.js';
import { type AgentProvider, ProviderError } from './provider.js';
import { RunEventHub } from './run-events.js';
import { nextRunState, type RunTransition, SessionRunQueue } from './run-queue.js';
import type { ToolInvoker } from './tool-invoker.js';
import { AgentToolbox, type ToolCallObserver } from './tools.js';

export type AgentRuntimeOptions = {
  config: LoopgateConfig;
  sessions: SessionStore;
  /** The node registry, as the agent sees it (`nodeServiceInvoker(nodes)` in the gateway). */
  tools: ToolInvoker;
  events: { emit(event: GatewayEventInput): unknown };
  log: Logger;
  /** Where API keys are read from (LOOPGATE_OPENAI_API_KEY, OPENAI_API_KEY). */
  env?: NodeJS.ProcessEnv;
  /** Replaces the configured provider (tests). */
  provider?: AgentProvider;
  /** Finished runs whose result and events stay available to `agent.wait` / `agent.events`. */
  retainFinishedRuns?: number;
  maxEventsPerRun?: number;
};

export type StartRunInput = {
  sessionId?: string | undefined;
  message: string;
  idempotencyKey?: string | undefined;
  /** Who sent the message; operator runs are `webchat`. */
  source: MessageSource;
};

type Run = {
  id: string;
  sessionId: string;
  message: string;
  source: MessageSource;
  state: AgentRunState;
  queuedAt: number;
  startedAt?: number;
  finishedAt?: number;
  text?: string;
  error?: RunError;
  toolCalls: number;
  controller: AbortController;
  done: Promise<AgentRunResult>;
  resolveDone: (result: AgentRunResult) => void;
};

/** Results and events sent to clients stay small; the transcript keeps more. */
const MAX_EVENT_VALUE_CHARS = 64 * 1024;
const MAX_TRANSCRIPT_VALUE_CHARS = 256 * 1024;
const SHUTDOWN_GRACE_MS = 5_000;

/**
 * Runs agent turns. `start` returns at once; the turn runs in the background
 * (so it outlives the operator connection that asked for it), one per
 * session at a time, streaming its events to `hub` and writing every step to
 * the session transcript. Providers reach nodes only through the toolbox.
 */
export class AgentRuntime {
  readonly hub: RunEventHub;
  readonly provider: AgentProvider;
  readonly #sessions: SessionStore;
  readonly #tools: ToolInvoker;
  readonly #events: AgentRuntimeOptions['events'];
  readonly #log: Logger;
  readonly #config: LoopgateConfig['agent'];
  readonly #runs = new Map<string, Run>();
  readonly #finishedOrder: string[] = [];
  readonly #retain: number;
  readonly #queue: SessionRunQueue;
  readonly #idempotency: IdempotencyCache<AgentStartOutput>;
  #closing = false;

  constructor(options: AgentRuntimeOptions) {
    this.#sessions = options.sessions;
    this.#tools = options.tools;
    this.#events = options.events;
    this.#log = options.log;
    this.#config = options.config.agent;
    this.#retain = options.retainFinishedRuns ?? 256;
    this.#queue = new SessionRunQueue(this.#config.maxQueuedPerSession);
    this.#idempotency = new IdempotencyCache({
      windowMs: options.config.gateway.nodes.idempotencyWindowMs,
    });
    this.hub = new RunEventHub({
      maxEventsPerRun: options.maxEventsPerRun ?? 5_000,
      maxQueuedPerSubscriber: 10_000,
    });
    this.provider = options.provider ?? createProvider(options.config, options.env ?? process.env);
  }

  async open(): Promise<void> {
    // A gateway restarted in the same process (or retrying a failed start) opens the runtime again.
    this.#closing = false;
    this.#log.info({ provider: this.provider.name }, 'agent runtime ready');
  }

  /** Cancels queued and running runs (their transcripts get a closing entry) and waits for them, briefly. */
  async close(): Promise<void> {
    this.#closing = true;
    const live = [...this.#runs.values()].filter((r) => !TERMINAL_RUN_STATES.has(r.state));
    // Queued ones first, so finishing a running one does not start the next.
    for (const run of live.filter((r) => r.state === 'queued'))
      this.#cancelQueued(run, 'the gateway is shutting down');
    for (const run of live.filter((r) => r.state === 'running'))
      run.controller.abort(new GatewayError('CANCELLED', 'the gateway is shutting down'));
    await Promise.race([
      Promise.allSettled(live.map((r) => r.done)),
      new Promise((resolve) => setTimeout(resolve, SHUTDOWN_GRACE_MS).unref()),
    ]);
  }

  /** Starts (or queues) a turn; with an idempotency key, a repeat returns the first run. */
  async start(input: StartRunInput): Promise<AgentStartOutput> {
    if (this.#closing) throw new GatewayError('UNAVAILABLE', 'the gateway is shutting down');
    if (input.idempotencyKey === undefined) return this.#start(input);
    const request = {
      sessionId: input.sessionId ?? null,
      message: input.message,
      channel: input.source.channel,
    };
    const { value, deduplicated } = this.#idempotency.run(input.idempotencyKey, request, () =>
      this.#start(input),
    );
    const out = await value;
    if (!deduplicated) return out;
    return { ...out, state: this.#runs.get(out.runId)?.state ?? out.state, deduplicated: true };
  }

  get(runId: string): AgentRunResult {
    return resultOf(this.#require(runId));
  }

  hasRun(runId: string): boolean {
    return this.#runs.has(runId);
  }

  /** The run's result once it finished; TIMEOUT (the run keeps going) if it has not within `timeoutMs`. */
  async wait(runId: string, timeoutMs: number, signal?: AbortSignal): Promise<AgentRunResult> {
    const run = this.#require(runId);
    if (TERMINAL_RUN_STATES.has(run.state)) return resultOf(run);
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        reject(
          new GatewayError(
            'TIMEOUT',
            `run ${runId} is still ${run.state} after ${timeoutMs} ms; it keeps running (wait again, or agent.cancel it)`,
            {
              details: { state: run.state },
            },
          ),
        );
      }, timeoutMs);
      onAbort = () => reject(new GatewayError('CANCELLED', 'the caller went away'));
      signal?.addEventListener('abort', onAbort, { once: true });
    });
    try {
      return await Promise.race([run.done, timeout]);
    } finally {
      clearTimeout(timer);
      if (onAbort) signal?.removeEventListener('abort', onAbort);
    }
  }

  /** Resolves when the run finishes, however long that takes (channels wait on this to reply). */
  whenFinished(runId: string): Promise<AgentRunResult> {
    return this.#require(runId).done;
  }

  /** Cancels a queued or running run; a finished one is returned as it is. */
  async cancel(runId: string, reason = 'cancelled by an operator'): Promise<AgentRunResult> {
    const run = this.#require(runId);
    if (run.state === 'queued') this.#cancelQueued(run, reason);
    else if (run.state === 'running') run.controller.abort(new GatewayError('CANCELLED', reason));
    return TERMINAL_RUN_STATES.has(run.state) ? resultOf(run) : run.done;
  }

  /** Starts the session over; refused while one of its runs is active or waiting. */
  async resetSession(sessionId: string): Promise<number> {
    this.#assertNoActiveRun(sessionId, 'reset');
    const cleared = await this.#sessions.reset(sessionId);
    this.hub.forgetSession(sessionId);
    return cleared;
  }

  /** Deletes the session and its transcripts; refused (CONFLICT, naming the run) while one is active. */
  async deleteSession(sessionId: string): Promise<SessionsDeleteOutput> {
    this.#assertNoActiveRun(sessionId, 'delete');
    const removed = await this.#sessions.delete(sessionId);
    this.hub.forgetSession(sessionId);
    return { sessionId, ...removed };
  }

  /** A session with a run in progress (runs queued behind it wait only while one is). */
  #assertNoActiveRun(sessionId: string, action: 'reset' | 'delete'): void {
    const active = this.#queue.activeRun(sessionId);
    if (active === undefined) return;
    const queued = this.#queue.waitingCount(sessionId);
    throw new GatewayError(
      'CONFLICT',
      `session ${sessionId} has a run in progress (${active}${queued > 0 ? `, ${queued} more queued` : ''}); wait for it or agent.cancel it before ${action}`,
      { details: { runId: active } },
    );
  }

  sessionInfo(meta: SessionMeta): SessionInfo {
    const { lastSeq: _lastSeq, ...info } = meta;
    const activeRunId = this.#queue.activeRun(meta.id);
    return {
      ...info,
      ...(activeRunId ? { activeRunId } : {}),
      queuedRuns: this.#queue.waitingCount(meta.id),
    };
  }

  /** A message delivered into a session outside any run (a `send` to webchat): watchers of the session see it. */
  publishSessionMessage(message: {
    sessionId: string;
    channel: string;
    to: string;
    text: string;
    messageId: string;
  }): void {
    this.hub.publish({ type: 'session.message', ...message });
  }

  statusSummary(): { total: number; activeRuns: number } {
    return { total: this.#sessions.size, activeRuns: this.#queue.activeCount };
  }

  async #start(input: StartRunInput): Promise<AgentStartOutput> {
    const session = input.sessionId
      ? await this.#sessions.ensure(input.sessionId, { channel: input.source.channel })
      : await this.#sessions.create({ channel: input.source.channel });
    let resolveDone!: (result: AgentRunResult) => void;
    const done = new Promise<AgentRunResult>((resolve) => {
      resolveDone = resolve;
    });
    const run: Run = {
      id: `run-${randomBytes(8).toString('hex')}`,
      sessionId: session.id,
      message: input.message,
      source: input.source,
      state: 'queued',
      queuedAt: Date.now(),
      toolCalls: 0,
      controller: new AbortController(),
      done,
      resolveDone,
    };
    const slot = this.#queue.enqueue(session.id, run.id); // LIMIT_EXCEEDED when the line is full
    this.#runs.set(run.id, run);
    this.#publish(run, {
      type: 'run.state',
      state: 'queued',
      queuePosition: slot.start ? 0 : slot.position,
    });
    this.#announce(run);
    if (slot.start) void this.#execute(run);
    return { runId: run.id, sessionId: session.id, state: run.state, deduplicated: false };
  }

  async #execute(run: Run): Promise<void> {
    this.#transition(run, 'start');
    run.startedAt = Date.now();
    this.#publish(run, { type: 'run.state', state: 'running' });
    this.#announce(run);
    const signal = run.controller.signal;
    try {
      const history = await this.#sessions.recent(run.sessionId, this.#config.maxHistoryEntries);
      this.#record(run, {
        kind: 'user',
        ts: Date.now(),
        runId: run.id,
        text: run.message,
        source: run.source,
      });
      const toolbox = new AgentToolbox({
        invoker: this.#tools,
        observer: this.#observerFor(run),
        runId: run.id,
        signal,
      });
      const turn = this.provider.runTurn({
        runId: run.id,
        sessionId: run.sessionId,
        message: run.message,
        history,
        toolbox,
        signal,
        onTextDelta: (round, text) => {
          if (!this.#isLive(run)) return;
          this.#publish(run, { type: 'assistant.delta', round, text });
        },
        onAssistantMessage: (round, text) => {
          if (!this.#isLive(run) || !text) return;
          this.#record(run, { kind: 'assistant', ts: Date.now(), runId: run.id, round, text });
        },
      });
      // Cancel must not wait for a provider or node that ignores the signal.
      const result = await raceAbort(turn, signal);
      await this.#finish(run, 'complete', { text: result.text });
    } catch (error) {
      if (signal.aborted) {
        const reason = isGatewayError(signal.reason) ? signal.reason.message : 'cancelled';
        await this.#finish(run, 'cancel', { error: { code: 'CANCELLED', message: reason } });
      } else {
        await this.#finish(run, 'fail', { error: this.#runErrorOf(run, error) });
      }
    }
  }

  #observerFor(run: Run): ToolCallObserver {
    return {
      started: (call) => {
        if (!this.#isLive(run)) return;
        run.toolCalls++;
        this.#record(run, {
          kind: 'tool_call',
          ts: Date.now(),
          runId: run.id,
          round: call.round,
          callId: call.callId,
          tool: call.tool,
          nodeId: call.nodeId,
          command: call.command,
          params: bounded(call.params, MAX_TRANSCRIPT_VALUE_CHARS),
        });
        this.#publish(run, {
          type: 'tool.started',
          callId: call.callId,
          tool: call.tool,
          nodeId: call.nodeId,
          command: call.command,
          params: bounded(call.params, MAX_EVENT_VALUE_CHARS),
        });
      },
      finished: (call, outcome, durationMs) => {
        if (!this.#isLive(run)) return; // a late answer after cancel: the turn is already closed
        const result = outcome.ok ? { result: outcome.result } : { error: outcome.error };
        this.#record(run, {
          kind: 'tool_result',
          ts: Date.now(),
          runId: run.id,
          callId: call.callId,
          ok: outcome.ok,
          ...(outcome.ok
            ? { result: bounded(outcome.result, MAX_TRANSCRIPT_VALUE_CHARS) }
            : result),
          durationMs,
        });
        this.#publish(run, {
          type: 'tool.finished',
          callId: call.callId,
          ok: outcome.ok,
          ...(outcome.ok ? { result: bounded(outcome.result, MAX_EVENT_VALUE_CHARS) } : result),
          durationMs,
        });
      },
    };
  }

  async #finish(
    run: Run,
    transition: RunTransition,
    outcome: { text?: string; error?: RunError },
  ): Promise<void> {
    this.#transition(run, transition);
    run.finishedAt = Date.now();
    if (outcome.text !== undefined) run.text = outcome.text;
    if (outcome.error) run.error = outcome.error;
    const state = run.state as 'completed' | 'failed' | 'cancelled';
    // The turn is durable before anyone is told it finished.
    await this.#append(
      run,
      [
        {
          kind: 'turn_end',
          ts: run.finishedAt,
          runId: run.id,
          state,
          ...(run.error ? { error: run.error } : {}),
          durationMs: run.finishedAt - (run.startedAt ?? run.queuedAt),
        },
      ],
      true,
    );
    this.#settle(run);
    const next = this.#queue.finish(run.sessionId, run.id);
    const nextRun = next === undefined ? undefined : this.#runs.get(next);
    if (nextRun) void this.#execute(nextRun);
  }

  #cancelQueued(run: Run, reason: string): void {
    this.#queue.withdraw(run.sessionId, run.id);
    this.#transition(run, 'cancel');
    run.finishedAt = Date.now();
    run.error = { code: 'CANCELLED', message: reason };
    this.#settle(run);
  }

  /** Tells everyone the run is over and retires old runs. */
  #settle(run: Run): void {
    this.#publish(run, {
      type: 'run.state',
      state: run.state,
      ...(run.text !== undefined ? { text: run.text } : {}),
      ...(run.error ? { error: run.error } : {}),
    });
    this.#announce(run);
    run.resolveDone(resultOf(run));
    this.#finishedOrder.push(run.id);
    while (this.#finishedOrder.length > this.#retain) {
      const old = this.#finishedOrder.shift()!;
      this.#runs.delete(old);
      this.hub.forget(old);
    }
  }

  #transition(run: Run, transition: RunTransition): void {
    const next = nextRunState(run.state, transition);
    if (!next)
      throw new GatewayError('INTERNAL', `run ${run.id} cannot ${transition} while ${run.state}`);
    run.state = next;
  }

  #isLive(run: Run): boolean {
    return run.state === 'running' && !run.controller.signal.aborted;
  }

  #publish(run: Run, event: DistributiveOmit<AgentRunEvent, 'runId' | 'sessionId' | 'ts'>): void {
    this.hub.publish({ ...event, runId: run.id, sessionId: run.sessionId } as Parameters<
      RunEventHub['publish']
    >[0]);
  }

  #announce(run: Run): void {
    this.#events.emit({
      type: 'agent.run',
      runId: run.id,
      sessionId: run.sessionId,
      state: run.state,
      ...(run.error ? { error: `${run.error.code}: ${run.error.message}` } : {}),
    });
  }

  /** Appends without waiting (the store keeps the order); the end of the turn waits and fsyncs. */
  #record(run: Run, entry: TranscriptEntryInput): void {
    void this.#append(run, [entry], false);
  }

  async #append(run: Run, entries: TranscriptEntryInput[], sync: boolean): Promise<void> {
    try {
      await this.#sessions.append(run.sessionId, entries, { sync });
    } catch (error) {
      // A full disk loses transcript lines, not the run: the user still gets the answer.
      this.#log.error(
        { err: error, runId: run.id, sessionId: run.sessionId },
        'could not write to the session transcript',
      );
    }
  }

  #runErrorOf(run: Run, error: unknown): RunError {
    if (error instanceof ProviderError) {
      this.#log.warn(
        { runId: run.id, code: error.code, provider: this.provider.name },
        error.message,
      );
      return { code: error.code, message: error.message };
    }
    if (isGatewayError(error)) return { code: error.code, message: error.message };
    this.#log.error({ err: error, runId: run.id }, 'agent run failed unexpectedly');
    return { code: 'INTERNAL', message: 'the run failed unexpectedly (see the gateway log)' };
  }

  #require(runId: string): Run {
    const run = this.#runs.get(runId);
    if (!run)
      throw new GatewayError(
        'NOT_FOUND',
        `no run ${runId} (finished runs are kept for the last ${this.#retain} runs)`,
      );
    return run;
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

function resultOf(run: Run): AgentRunResult {
  return {
    runId: run.id,
    sessionId: run.sessionId,
    state: run.state,
    ...(run.text !== undefined ? { text: run.text } : {}),
    ...(run.error ? { error: run.error } : {}),
    toolCalls: run.toolCalls,
    queuedAt: run.queuedAt,
    ...(run.startedAt !== undefined ? { startedAt: run.startedAt } : {}),
    ...(run.finishedAt !== undefined ? { finishedAt: run.finishedAt } : {}),
  };
}

/** The configured provider; `openai` reads its key from the environment first, then the file. */
export function createProvider(config: LoopgateConfig, env: NodeJS.ProcessEnv): AgentProvider {
  if (config.agent.provider === 'local') return new LocalProvider();
  const openai = config.agent.openai;
  return new OpenAiProvider({
    baseUrl: openai.baseUrl,
    model: openai.model,
    apiKey: env.LOOPGATE_OPENAI_API_KEY || env.OPENAI_API_KEY || openai.apiKey,
    timeoutMs: openai.timeoutMs,
    maxToolRounds: openai.maxToolRounds,
    maxRetries: openai.maxRetries,
    systemPrompt: openai.systemPrompt,
  });
}

/** Large node results are kept as a preview rather than blowing up a frame or the transcript. */
function bounded(value: unknown, maxChars: number): unknown {
  const text = JSON.stringify(value);
  if (text === undefined || text.length <= maxChars) return value;
  return { truncated: true, chars: text.length, preview: text.slice(0, 4_096) };
}
