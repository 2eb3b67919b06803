import { createHash } from 'node:crypto';
import {
  type Deadline,
  Deadlines,
  GatewayError,
  type InFlightInvocation,
  type InvocationPhase,
  type NodeInvocationMessage,
  type NodeProgressInput,
  type NodesInvokeOutput,
} from '@loopgate/protocol';
import { IdempotencyWindow } from '../idempotency/index.js';
import {
  advanceInvocation,
  classifyNodeResult,
  type InvocationEvent,
  type InvocationOutcome,
  isTerminal,
  nodeParams,
} from './invocation.js';
import { newId } from './node-ids.js';

/**
 * A node as the broker sees it: something that can be sent invocations and
 * cancels, and closed. The tRPC subscription is one implementation; an
 * adapter for another wire protocol is another.
 */
export interface NodeConnection {
  readonly connectionId: string;
  readonly nodeId: string;
  /**
   * `json`, when given, is `JSON.stringify(message)` already made by the
   * broker, which has checked the params are plain JSON: a connection that
   * writes JSON can send it as is instead of checking and stringifying again.
   */
  send(message: NodeInvocationMessage, json?: string): void;
  close(code: number, reason: string): void;
}

/** Where an invocation goes, as resolved (and authorised) by the registry. */
export type InvokeTarget = { nodeId: string; name: string; connection: NodeConnection };

export type InvokeProgress = { message?: string; percent?: number };

export type InvokeRequest = {
  /** Node id or name. */
  nodeRef: string;
  command: string;
  params?: unknown;
  timeoutMs: number;
  idempotencyKey?: string | undefined;
  /** Aborting cancels the invocation (the node is told) once no other caller waits for it. */
  signal?: AbortSignal | undefined;
  onProgress?: ((progress: InvokeProgress) => void) | undefined;
};

export type InvocationFinished = {
  invocationId: string;
  nodeId: string;
  command: string;
  ok: boolean;
  durationMs: number;
  errorCode?: string;
};

export type InvokeBrokerOptions = {
  limits: () => {
    maxParamsBytes: number;
    maxResultBytes: number;
    idempotencyWindowMs: number;
    maxInFlightPerNode: number;
  };
  /** Throws NOT_PAIRED / NOT_CONNECTED / COMMAND_NOT_ALLOWED. */
  resolveTarget: (nodeRef: string, command: string) => InvokeTarget;
  onFinished: (finished: InvocationFinished) => void;
  now?: () => number;
  maxRememberedKeys?: number;
  /** Defaults to MAX_KEPT_RESULT_BYTES. */
  maxKeptResultBytes?: number;
};

type Waiter = {
  replayed: boolean;
  resolve: (output: NodesInvokeOutput) => void;
  reject: (error: GatewayError) => void;
  onProgress: ((progress: InvokeProgress) => void) | undefined;
  detach: () => void;
};

type Invocation = {
  id: string;
  nodeId: string;
  nodeName: string;
  connection: NodeConnection;
  command: string;
  phase: InvocationPhase;
  startedAt: number;
  deadline: number;
  expiry: Deadline | undefined;
  progress: InvokeProgress | undefined;
  waiters: Set<Waiter>;
  /** The idempotency key the call runs under, if any, and what makes a retry under it the same call. */
  key: string | undefined;
  fingerprint: string;
};

type Settled = { outcome: InvocationOutcome; invocationId: string; durationMs: number };

/**
 * Bytes of node results (payloads and error details) kept for idempotent
 * retries, all keys together. A node chooses how big its answers are (up to
 * maxResultBytes each), and every CLI, dashboard and agent call carries a key:
 * without a total, 10 000 remembered 4 MiB answers could hold ~40 GB. Past it
 * an outcome is remembered without its result, so a retry is refused by name
 * instead of running the command again.
 */
export const MAX_KEPT_RESULT_BYTES = 64 * 1024 * 1024;

/**
 * What the idempotency window keeps per key: the invocation while it runs,
 * then what it ended as. The ended call is one object made when it ends,
 * with every field it keeps, put in the running one's place: a busy gateway
 * holds 10 000 of them (~0.4 s of calls at 64 in flight), and a running
 * entry with the outcome written into it later cost the gateway more CPU
 * per call (lever 25 in bench/README.md).
 */
type Remembered = Invocation | Ended;

type Ended = {
  readonly invocationId: string;
  readonly durationMs: number;
  /**
   * What a retry gets, kept flat rather than as the outcome object (one
   * object less per remembered call): the payload when `ok`, else the
   * error, which is a refusal naming the key once the result is dropped.
   */
  ok: boolean;
  payload: unknown;
  error: GatewayError | undefined;
  readonly key: string;
  readonly command: string;
  readonly nodeId: string;
  readonly nodeName: string;
  readonly fingerprint: string;
  /** Result bytes this entry holds toward MAX_KEPT_RESULT_BYTES. */
  keptBytes: number;
};

function hasEnded(remembered: Remembered): remembered is Ended {
  return !('waiters' in remembered);
}

/**
 * Runs invocations against node connections: a deadline per call (one
 * timer for all of them), cancels on timeout, NODE_DISCONNECTED the moment
 * a connection is detached, results validated and size-checked, idempotent
 * replays. Knows nothing of tRPC.
 */
export class InvokeBroker {
  readonly #invocations = new Map<string, Invocation>();
  /** Unsettled invocations per node id, kept as a count so the cap costs no scan per call. */
  readonly #inFlightByNode = new Map<string, number>();
  readonly #remembered: IdempotencyWindow<Remembered>;
  readonly #opts: InvokeBrokerOptions;
  readonly #now: () => number;
  readonly #deadlines: Deadlines;
  #keptBytes = 0;
  readonly #maxKeptBytes: number;

  constructor(options: InvokeBrokerOptions) {
    this.#opts = options;
    this.#now = options.now ?? Date.now;
    this.#deadlines = new Deadlines(this.#now);
    this.#maxKeptBytes = options.maxKeptResultBytes ?? MAX_KEPT_RESULT_BYTES;
    this.#remembered = new IdempotencyWindow({
      windowMs: () => options.limits().idempotencyWindowMs,
      maxEntries: options.maxRememberedKeys ?? 10_000,
      now: this.#now,
      onForget: (entry) => {
        if (!hasEnded(entry)) return;
        this.#keptBytes -= entry.keptBytes;
        entry.keptBytes = 0;
      },
    });
  }

  /** Invocations not yet settled, for presence and `nodes.describe`. */
  inFlight(nodeId: string): InFlightInvocation[] {
    const out: InFlightInvocation[] = [];
    for (const inv of this.#invocations.values()) {
      if (inv.nodeId !== nodeId) continue;
      out.push({
        invocationId: inv.id,
        command: inv.command,
        phase: inv.phase,
        startedAt: inv.startedAt,
        deadline: inv.deadline,
        ...(inv.progress ? { progress: inv.progress } : {}),
      });
    }
    return out;
  }

  inFlightCount(nodeId: string): number {
    return this.#inFlightByNode.get(nodeId) ?? 0;
  }

  invoke(request: InvokeRequest): Promise<NodesInvokeOutput> {
    return new Promise<NodesInvokeOutput>((resolve, reject) => {
      const fail = (error: unknown) =>
        reject(
          error instanceof GatewayError ? error : new GatewayError('INTERNAL', 'invoke failed'),
        );
      try {
        this.#start(request, resolve, reject);
      } catch (error) {
        fail(error);
      }
    });
  }

  #start(
    request: InvokeRequest,
    resolve: (output: NodesInvokeOutput) => void,
    reject: (error: GatewayError) => void,
  ): void {
    const { maxParamsBytes, maxInFlightPerNode } = this.#opts.limits();
    const { params, json: paramsJson } = nodeParams(request.params, maxParamsBytes);
    const size = Buffer.byteLength(paramsJson, 'utf8');
    if (size > maxParamsBytes) {
      throw new GatewayError(
        'PAYLOAD_TOO_LARGE',
        `params are ${size} bytes, over gateway.nodes.maxParamsBytes (${maxParamsBytes})`,
        { details: { bytes: size, limit: maxParamsBytes } },
      );
    }
    if (request.signal?.aborted)
      throw new GatewayError('CANCELLED', 'the invocation was cancelled');

    const key = request.idempotencyKey;
    // omitted params and {} are the same call: a retry that spells them differently must not be a CONFLICT
    const fingerprint =
      key === undefined ? '' : fingerprintOf(paramsJson === '' ? '{}' : paramsJson);
    if (key !== undefined) {
      const seen = this.#remembered.get(key);
      if (seen) {
        const sameCall =
          seen.fingerprint === fingerprint &&
          seen.command === request.command &&
          (seen.nodeId === request.nodeRef || seen.nodeName === request.nodeRef);
        if (!sameCall) {
          throw new GatewayError(
            'CONFLICT',
            `idempotencyKey "${key}" was already used for a different invocation; use a new key`,
          );
        }
        if (hasEnded(seen)) {
          replay(seen, resolve, reject);
          return;
        }
        assertRoomForCaller(seen, key);
        this.#addWaiter(seen, true, request, resolve, reject);
        return;
      }
    }

    const target = this.#opts.resolveTarget(request.nodeRef, request.command);
    const running = this.inFlightCount(target.nodeId);
    if (running >= maxInFlightPerNode) {
      throw new GatewayError(
        'LIMIT_EXCEEDED',
        `node "${target.name}" already has ${running} invocations unanswered, the limit of gateway.nodes.maxInFlightPerNode (${maxInFlightPerNode}); retry when some finish`,
        { details: { nodeId: target.nodeId, inFlight: running, limit: maxInFlightPerNode } },
      );
    }
    const now = this.#now();
    const inv: Invocation = {
      id: newId('inv'),
      nodeId: target.nodeId,
      nodeName: target.name,
      connection: target.connection,
      command: request.command,
      phase: 'pending',
      startedAt: now,
      deadline: now + request.timeoutMs,
      expiry: undefined,
      progress: undefined,
      waiters: new Set(),
      key,
      fingerprint,
    };
    if (key !== undefined) this.#remembered.set(key, inv);
    this.#invocations.set(inv.id, inv);
    this.#inFlightByNode.set(inv.nodeId, running + 1);
    this.#addWaiter(inv, false, request, resolve, reject);
    inv.expiry = this.#deadlines.add(request.timeoutMs, () =>
      this.#apply(inv, { type: 'timeout' }),
    );

    try {
      target.connection.send(
        {
          kind: 'invoke',
          invocationId: inv.id,
          command: inv.command,
          params,
          deadline: inv.deadline,
          timeoutMs: request.timeoutMs,
        },
        paramsJson === '' ? undefined : invokeMessageJson(inv, paramsJson, request.timeoutMs),
      );
    } catch {
      // The send fails only when the node's socket is going away: that is a disconnect.
      this.#apply(inv, { type: 'disconnected' });
      return;
    }
    this.#apply(inv, { type: 'delivered' });
  }

  #addWaiter(
    inv: Invocation,
    replayed: boolean,
    request: InvokeRequest,
    resolve: (output: NodesInvokeOutput) => void,
    reject: (error: GatewayError) => void,
  ): void {
    const signal = request.signal;
    const onAbort = () => {
      inv.waiters.delete(waiter);
      reject(new GatewayError('CANCELLED', 'the invocation was cancelled'));
      // The last caller gave up: stop the work on the node too.
      if (inv.waiters.size === 0) this.#apply(inv, { type: 'cancelled' });
    };
    const waiter: Waiter = {
      replayed,
      resolve,
      reject,
      onProgress: request.onProgress,
      detach: () => signal?.removeEventListener('abort', onAbort),
    };
    inv.waiters.add(waiter);
    signal?.addEventListener('abort', onAbort, { once: true });
  }

  /**
   * A node answered. Returns whether anyone was waiting for it, and the
   * reason the answer itself was refused (so the node can be told).
   */
  postResult(
    connection: { connectionId: string; nodeId: string },
    raw: { invocationId: string },
  ): {
    accepted: boolean;
    refused?: GatewayError;
  } {
    const inv = this.#invocations.get(raw.invocationId);
    if (
      !inv ||
      inv.connection.connectionId !== connection.connectionId ||
      inv.nodeId !== connection.nodeId
    ) {
      return { accepted: false };
    }
    const outcome = classifyNodeResult(raw, {
      nodeName: inv.nodeName,
      command: inv.command,
      maxResultBytes: this.#opts.limits().maxResultBytes,
    });
    if (!this.#apply(inv, { type: 'result' }, outcome)) return { accepted: false };
    if (!outcome.ok && (outcome.error.code === 'INVALID_RESULT' || isOversize(outcome.error))) {
      const code = outcome.error.code === 'INVALID_RESULT' ? 'BAD_REQUEST' : 'PAYLOAD_TOO_LARGE';
      return {
        accepted: true,
        refused: new GatewayError(code, `result refused: ${outcome.error.message}`, {
          ...(outcome.error.details ? { details: outcome.error.details } : {}),
        }),
      };
    }
    return { accepted: true };
  }

  postProgress(
    connection: { connectionId: string; nodeId: string },
    input: NodeProgressInput,
  ): boolean {
    const inv = this.#invocations.get(input.invocationId);
    if (
      !inv ||
      inv.connection.connectionId !== connection.connectionId ||
      inv.phase !== 'delivered'
    )
      return false;
    const progress: InvokeProgress = {
      ...(input.message !== undefined ? { message: input.message } : {}),
      ...(input.percent !== undefined ? { percent: input.percent } : {}),
    };
    inv.progress = progress;
    for (const waiter of inv.waiters) {
      try {
        waiter.onProgress?.(progress);
      } catch {
        // a caller's progress callback must not break the node's call
      }
    }
    return true;
  }

  /** The connection is gone: everything it was running fails with NODE_DISCONNECTED, now. */
  detachConnection(connectionId: string): void {
    for (const inv of [...this.#invocations.values()]) {
      if (inv.connection.connectionId === connectionId) this.#apply(inv, { type: 'disconnected' });
    }
  }

  /** Gateway shutdown: nobody will answer any more. */
  closeAll(): void {
    for (const inv of [...this.#invocations.values()]) this.#apply(inv, { type: 'disconnected' });
    this.#deadlines.clear();
  }

  /** Applies one lifecycle event; returns whether it changed anything. */
  #apply(inv: Invocation, event: InvocationEvent, resultOutcome?: InvocationOutcome): boolean {
    const step = advanceInvocation(inv.phase, event);
    if (!step.changed) return false;
    inv.phase = step.phase;
    if (step.sendCancel) {
      try {
        inv.connection.send({ kind: 'cancel', invocationId: inv.id, reason: step.sendCancel });
      } catch {
        // the connection is going away; the node loses the work anyway
      }
    }
    if (!isTerminal(step.phase)) return true;
    const outcome = resultOutcome ?? this.#failureFor(inv, step.phase);
    this.#settle(inv, outcome, step.mayHaveRun);
    return true;
  }

  #failureFor(inv: Invocation, phase: InvocationPhase): InvocationOutcome {
    const where = `node "${inv.nodeName}" (${inv.command})`;
    switch (phase) {
      case 'timeout':
        return {
          ok: false,
          error: new GatewayError(
            'TIMEOUT',
            `${where} did not answer within ${inv.deadline - inv.startedAt} ms`,
            {
              details: { timeoutMs: inv.deadline - inv.startedAt },
            },
          ),
        };
      case 'cancelled':
        return {
          ok: false,
          error: new GatewayError('CANCELLED', `${where}: the invocation was cancelled`),
        };
      default:
        return {
          ok: false,
          error: new GatewayError(
            'NODE_DISCONNECTED',
            `${where}: the node disconnected before answering`,
          ),
        };
    }
  }

  /** What a retry of `inv` will get: its outcome, or a refusal if the result alone is over the budget. */
  #ended(inv: Invocation, key: string, settled: Settled): Ended {
    const { outcome } = settled;
    if (!outcome.ok) releaseFrames(outcome.error);
    const ended: Ended = {
      invocationId: settled.invocationId,
      durationMs: settled.durationMs,
      ok: outcome.ok,
      payload: outcome.ok ? outcome.payload : undefined,
      error: outcome.ok ? undefined : outcome.error,
      key,
      command: inv.command,
      nodeId: inv.nodeId,
      nodeName: inv.nodeName,
      fingerprint: inv.fingerprint,
      keptBytes: outcome.bytes ?? 0,
    };
    if (ended.keptBytes > this.#maxKeptBytes) this.#dropResult(ended);
    return ended;
  }

  /** Keeps `ended` without its result: a retry is refused by name (see `notKept`). */
  #dropResult(ended: Ended): void {
    ended.error = notKept(ended, this.#maxKeptBytes);
    ended.ok = false;
    ended.payload = undefined;
    ended.keptBytes = 0;
  }

  /**
   * Counts what `ended`, now in the window, keeps toward the byte budget,
   * and keeps within it by dropping the results of the oldest remembered
   * calls first (a retry usually follows its call closely).
   */
  #count(ended: Ended): void {
    this.#keptBytes += ended.keptBytes;
    if (this.#keptBytes <= this.#maxKeptBytes) return;
    for (const older of this.#remembered.values()) {
      if (this.#keptBytes <= this.#maxKeptBytes) return;
      if (older === ended || !hasEnded(older) || older.keptBytes === 0) continue;
      this.#keptBytes -= older.keptBytes;
      this.#dropResult(older);
    }
  }

  #settle(inv: Invocation, outcome: InvocationOutcome, mayHaveRun: boolean): void {
    inv.expiry?.cancel();
    this.#invocations.delete(inv.id);
    const left = this.inFlightCount(inv.nodeId) - 1;
    if (left > 0) this.#inFlightByNode.set(inv.nodeId, left);
    else this.#inFlightByNode.delete(inv.nodeId);
    const settled: Settled = {
      outcome,
      invocationId: inv.id,
      durationMs: this.#now() - inv.startedAt,
    };
    const key = inv.key;
    if (key !== undefined) {
      const ended = mayHaveRun ? this.#ended(inv, key, settled) : undefined;
      // Not in the window any more (newer keys pushed it out while it ran): nothing to count.
      if (ended && this.#remembered.replace(key, inv, ended)) this.#count(ended);
      else this.#remembered.delete(key, inv);
    }
    for (const waiter of inv.waiters) {
      waiter.detach();
      if (outcome.ok) waiter.resolve(outputOf(settled, inv, outcome.payload, waiter.replayed));
      else waiter.reject(outcome.error);
    }
    inv.waiters.clear();
    this.#opts.onFinished({
      invocationId: inv.id,
      nodeId: inv.nodeId,
      command: inv.command,
      ok: outcome.ok,
      durationMs: settled.durationMs,
      ...(outcome.ok ? {} : { errorCode: outcome.error.code }),
    });
  }
}

/**
 * Callers one running invocation may have: the first and its retries under
 * the same idempotency key. A caller whose socket dropped stays waiting
 * until the call ends, so without a bound one key sent again and again
 * against a node that never answers would hold a caller per request for the
 * call's whole timeout, past the per-node cap.
 */
const MAX_CALLERS_PER_INVOCATION = 32;

function assertRoomForCaller(inv: Invocation, key: string): void {
  if (inv.waiters.size < MAX_CALLERS_PER_INVOCATION) return;
  throw new GatewayError(
    'LIMIT_EXCEEDED',
    `idempotencyKey "${key}" already has ${inv.waiters.size} callers waiting for ${inv.id} on node "${inv.nodeName}" (at most ${MAX_CALLERS_PER_INVOCATION}); wait for one of them`,
    {
      details: {
        invocationId: inv.id,
        callers: inv.waiters.size,
        limit: MAX_CALLERS_PER_INVOCATION,
      },
    },
  );
}

/** What a retry gets once the call's result is no longer kept: a refusal naming the key. */
function notKept(ended: Ended, budget: number): GatewayError {
  const { key, invocationId, ok, keptBytes: bytes } = ended;
  const how = ok ? 'succeeded' : 'failed';
  const error = new GatewayError(
    'CONFLICT',
    `idempotencyKey "${key}" already ran as ${invocationId} (it ${how}); its result (${bytes} bytes) is not kept for retries any more (the gateway keeps ${budget} bytes of results in all); use a new key to run it again`,
    { details: { invocationId, ok, bytes } },
  );
  releaseFrames(error);
  return error;
}

/**
 * Until an error's stack is formatted, V8 keeps the closures of every frame
 * it was created in reachable from it: an error made while a node's result
 * was being handled held that whole input (up to maxResultBytes) for as long
 * as the error was remembered. Formatting the stack once lets them go.
 */
function releaseFrames(error: Error): void {
  void error.stack;
}

function replay(
  seen: Ended,
  resolve: (output: NodesInvokeOutput) => void,
  reject: (error: GatewayError) => void,
): void {
  if (seen.ok) {
    resolve({
      invocationId: seen.invocationId,
      nodeId: seen.nodeId,
      command: seen.command,
      payload: seen.payload,
      durationMs: seen.durationMs,
      replayed: true,
    });
  } else {
    reject(seen.error as GatewayError);
  }
}

function outputOf(
  settled: Settled,
  inv: Invocation,
  payload: unknown,
  replayed: boolean,
): NodesInvokeOutput {
  return {
    invocationId: settled.invocationId,
    nodeId: inv.nodeId,
    command: inv.command,
    payload,
    durationMs: settled.durationMs,
    replayed,
  };
}

function isOversize(error: GatewayError): boolean {
  return error.code === 'PAYLOAD_TOO_LARGE' && error.details?.nodeCode === undefined;
}

/** Up to this size a call's params are kept as their text; past it, as a SHA-256 of it. */
const FINGERPRINT_TEXT_MAX = 256;

/** `JSON.stringify` of the invoke message, same keys in the same order, with the params text spliced in. */
function invokeMessageJson(inv: Invocation, paramsJson: string, timeoutMs: number): string {
  return `{"kind":"invoke","invocationId":${JSON.stringify(inv.id)},"command":${JSON.stringify(inv.command)},"params":${paramsJson},"deadline":${inv.deadline},"timeoutMs":${timeoutMs}}`;
}

/**
 * What, beside its command and node, makes a retry "the same call" as the
 * one remembered under its key: its params. Small params (almost all of
 * them) are kept as their JSON text, the very string sent to the node: no
 * hash and no copy on the invoke path, and at most 10 000 keys × 256
 * characters remembered. JSON text never starts with "sha256:".
 */
function fingerprintOf(paramsJson: string): string {
  if (paramsJson.length <= FINGERPRINT_TEXT_MAX) return paramsJson;
  return `sha256:${createHash('sha256').update(paramsJson).digest('hex')}`;
}
