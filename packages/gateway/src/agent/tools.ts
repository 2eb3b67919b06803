import { isGatewayError, type RunError } from '@loopgate/protocol';
import type { NodeToolInfo, ToolInvoker } from './tool-invoker.js';

/** One node command as offered to a model. */
export type ToolSpec = {
  /** Unique within a run, matching the Chat Completions function-name rule `^[A-Za-z0-9_-]{1,64}$`. */
  name: string;
  description: string;
  parameters: Record<string, unknown>;
  nodeId: string;
  nodeName: string;
  command: string;
};

export type ToolOutcome = { ok: true; result: unknown } | { ok: false; error: RunError };

export type ToolCallRequest = {
  callId: string;
  /** Model round the call belongs to (0 for directives). */
  round: number;
  tool: string;
  nodeId: string;
  command: string;
  params: unknown;
};

/** Hooks the runtime uses to stream and record every tool call, whoever asked for it. */
export interface ToolCallObserver {
  started(call: ToolCallRequest): void;
  finished(call: ToolCallRequest, outcome: ToolOutcome, durationMs: number): void;
}

const MAX_TOOL_NAME = 64;
/** What a tool result may cost in the model's context. */
export const MAX_TOOL_RESULT_CHARS = 16_000;

/**
 * `node name` + `command` → a function name the Chat Completions API accepts.
 * Readable on purpose (`kitchen-pi__system_run`): the model picks tools by name.
 */
export function toolNameFor(nodeName: string, command: string): string {
  const clean = (s: string) => s.replace(/[^A-Za-z0-9_-]+/g, '_').replace(/^_+|_+$/g, '') || 'x';
  const node = clean(nodeName).slice(0, 24);
  return `${node}__${clean(command)}`.slice(0, MAX_TOOL_NAME);
}

/**
 * The tools a model may call: every approved command of every online node.
 * Names collide only after sanitizing (or truncation); later ones get a
 * numeric suffix so each maps back to exactly one node command.
 */
export function buildToolCatalog(nodes: readonly NodeToolInfo[]): ToolSpec[] {
  const specs: ToolSpec[] = [];
  const taken = new Set<string>();
  // Code-unit order, not locale order: the same nodes give the same names on every machine.
  const ordered = [...nodes]
    .filter((n) => n.online)
    .sort((a, b) => compare(a.name, b.name) || compare(a.nodeId, b.nodeId));
  for (const node of ordered) {
    for (const command of node.commands) {
      const base = toolNameFor(node.name, command.name);
      let name = base;
      for (let i = 2; taken.has(name); i++) {
        const suffix = `_${i}`;
        name = base.slice(0, MAX_TOOL_NAME - suffix.length) + suffix;
      }
      taken.add(name);
      const summary = `Runs command "${command.name}" on node "${node.name}" (${node.nodeId}).`;
      specs.push({
        name,
        description: command.description ? `${command.description} ${summary}` : summary,
        parameters: isObjectSchema(command.paramsSchema)
          ? command.paramsSchema
          : { type: 'object' },
        nodeId: node.nodeId,
        nodeName: node.name,
        command: command.name,
      });
    }
  }
  return specs;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function isObjectSchema(
  schema: Record<string, unknown> | undefined,
): schema is Record<string, unknown> {
  return schema !== undefined && schema.type === 'object';
}

/** A tool outcome as the `content` of a `tool` message: JSON, capped. */
export function toolResultContent(outcome: ToolOutcome): string {
  const text =
    JSON.stringify(outcome.ok ? (outcome.result ?? null) : { error: outcome.error }) ?? 'null';
  return text.length > MAX_TOOL_RESULT_CHARS
    ? `${text.slice(0, MAX_TOOL_RESULT_CHARS)}…(truncated)`
    : text;
}

/** The error a failed call reports: the gateway's own code and message, nothing internal. */
export function toolErrorOf(error: unknown): RunError {
  if (isGatewayError(error)) return { code: error.code, message: error.message };
  if (error instanceof Error && error.name === 'AbortError')
    return { code: 'CANCELLED', message: 'the run was cancelled' };
  return { code: 'INTERNAL', message: 'the tool call failed unexpectedly' };
}

/**
 * The one path every tool call takes — a model's function call and a
 * `/invoke` directive alike: announce, invoke the node (with the run's abort
 * signal and an idempotency key derived from the call), record the outcome.
 */
export class AgentToolbox {
  readonly #invoker: ToolInvoker;
  readonly #observer: ToolCallObserver;
  readonly #runId: string;
  readonly #signal: AbortSignal;
  #catalog: Promise<ToolSpec[]> | undefined;
  #calls = 0;

  constructor(options: {
    invoker: ToolInvoker;
    observer: ToolCallObserver;
    runId: string;
    signal: AbortSignal;
  }) {
    this.#invoker = options.invoker;
    this.#observer = options.observer;
    this.#runId = options.runId;
    this.#signal = options.signal;
  }

  get callCount(): number {
    return this.#calls;
  }

  nodes(): Promise<NodeToolInfo[]> {
    return this.#invoker.listNodes();
  }

  /** Fixed for the whole run, so a name the model saw in round 1 still means the same command in round 5. */
  catalog(): Promise<ToolSpec[]> {
    this.#catalog ??= this.#invoker.listNodes().then(buildToolCatalog);
    return this.#catalog;
  }

  /** A model's function call: resolve the name, parse the JSON arguments, run it. */
  async callByName(
    name: string,
    argumentsJson: string,
    callId: string,
    round: number,
  ): Promise<ToolOutcome> {
    const spec = (await this.catalog()).find((s) => s.name === name);
    let params: unknown;
    let parseError: RunError | undefined;
    try {
      params = argumentsJson.trim() === '' ? {} : JSON.parse(argumentsJson);
    } catch {
      // Bad JSON from the model is reported back to it as BAD_REQUEST below, not thrown.
      params = argumentsJson;
      parseError = {
        code: 'BAD_REQUEST',
        message: `the arguments for ${name} were not valid JSON`,
      };
    }
    const request: ToolCallRequest = {
      callId,
      round,
      tool: name,
      nodeId: spec?.nodeId ?? '',
      command: spec?.command ?? '',
      params,
    };
    if (!spec)
      return this.#reject(request, {
        code: 'NOT_FOUND',
        message: `there is no tool named ${name}`,
      });
    if (parseError) return this.#reject(request, parseError);
    return this.call(request);
  }

  async call(request: ToolCallRequest): Promise<ToolOutcome> {
    this.#calls++;
    this.#observer.started(request);
    const started = performance.now();
    let outcome: ToolOutcome;
    try {
      const result = await this.#invoker.invoke({
        nodeId: request.nodeId,
        command: request.command,
        params: request.params,
        idempotencyKey: `${this.#runId}:${request.callId}`,
        signal: this.#signal,
      });
      outcome = { ok: true, result };
    } catch (error) {
      outcome = {
        ok: false,
        error: this.#signal.aborted
          ? { code: 'CANCELLED', message: 'the run was cancelled' }
          : toolErrorOf(error),
      };
    }
    this.#observer.finished(request, outcome, Math.round(performance.now() - started));
    return outcome;
  }

  /** A call that never reaches a node (unknown tool, bad arguments) is still recorded, so the transcript shows it. */
  #reject(request: ToolCallRequest, error: RunError): ToolOutcome {
    this.#calls++;
    this.#observer.started(request);
    const outcome: ToolOutcome = { ok: false, error };
    this.#observer.finished(request, outcome, 0);
    return outcome;
  }
}
