import {
  GatewayError,
  type GatewayErrorCode,
  type InvocationPhase,
  isPlainJson,
  NodeResult,
  whyNotPlainJson,
} from '@loopgate/protocol';

/**
 * The lifecycle of one invocation, as a pure transition function:
 *
 *   pending ──delivered──► delivered ──result──► done
 *      │                       ├──timeout──────► timeout       (cancel pushed to the node)
 *      │                       ├──disconnected─► disconnected
 *      │                       └──cancelled────► cancelled     (cancel pushed to the node)
 *      └──timeout | disconnected | cancelled ──► (same, no cancel: the node never saw it)
 *
 * Terminal phases ignore every later event, which is what makes a late result
 * harmless and lets a result that arrived before the close win.
 */
export type InvocationEvent =
  | { type: 'delivered' }
  | { type: 'result' }
  | { type: 'timeout' }
  | { type: 'disconnected' }
  | { type: 'cancelled' };

export type InvocationStep = {
  phase: InvocationPhase;
  /** False when the event was ignored (already terminal, or a result for an undelivered call). */
  changed: boolean;
  /** Tell the node to stop working on it. */
  sendCancel?: 'timeout' | 'cancelled';
  /**
   * The command may have run on the node, so the outcome must be remembered
   * for idempotent replays; failures before delivery are not (nothing ran,
   * and a retry should get a fresh chance).
   */
  mayHaveRun: boolean;
};

const TERMINAL: ReadonlySet<InvocationPhase> = new Set([
  'done',
  'timeout',
  'disconnected',
  'cancelled',
]);

export function isTerminal(phase: InvocationPhase): boolean {
  return TERMINAL.has(phase);
}

export function advanceInvocation(phase: InvocationPhase, event: InvocationEvent): InvocationStep {
  const unchanged: InvocationStep = { phase, changed: false, mayHaveRun: phase !== 'pending' };
  if (isTerminal(phase)) return unchanged;
  const delivered = phase === 'delivered';
  switch (event.type) {
    case 'delivered':
      return phase === 'pending'
        ? { phase: 'delivered', changed: true, mayHaveRun: true }
        : unchanged;
    case 'result':
      // Only the node we delivered to can answer; anything else is noise.
      return delivered ? { phase: 'done', changed: true, mayHaveRun: true } : unchanged;
    case 'timeout':
      return {
        phase: 'timeout',
        changed: true,
        mayHaveRun: delivered,
        ...(delivered ? { sendCancel: 'timeout' as const } : {}),
      };
    case 'disconnected':
      return { phase: 'disconnected', changed: true, mayHaveRun: delivered };
    case 'cancelled':
      return {
        phase: 'cancelled',
        changed: true,
        mayHaveRun: delivered,
        ...(delivered ? { sendCancel: 'cancelled' as const } : {}),
      };
  }
}

/** `bytes`: the JSON size of what the node sent back (payload or error details), when measured. */
export type InvocationOutcome =
  | { ok: true; payload: unknown; bytes?: number }
  | { ok: false; error: GatewayError; bytes?: number };

/** Node error codes that mean the same to the caller as the gateway's own code. */
const PASS_THROUGH_CODES: ReadonlySet<string> = new Set<GatewayErrorCode>([
  'BAD_REQUEST',
  'NOT_FOUND',
  'FORBIDDEN',
  'COMMAND_NOT_ALLOWED',
  'PAYLOAD_TOO_LARGE',
  'CANCELLED',
]);

/**
 * Turns what a node posted into the caller's outcome: a payload, the node's
 * typed error, INVALID_RESULT for garbage, PAYLOAD_TOO_LARGE past the cap.
 * Pure: no I/O, no clocks.
 */
export function classifyNodeResult(
  raw: unknown,
  context: { nodeName: string; command: string; maxResultBytes: number },
): InvocationOutcome {
  const parsed = NodeResult.safeParse(raw);
  const where = `node "${context.nodeName}" (${context.command})`;
  if (!parsed.success) {
    const issues = parsed.error.issues
      .slice(0, 5)
      .map((i) => `${i.path.join('.') || '(result)'}: ${i.message}`);
    return {
      ok: false,
      error: new GatewayError('INVALID_RESULT', `${where} returned a malformed result`, {
        details: { issues },
      }),
    };
  }
  const result = parsed.data;
  if (!result.ok) {
    const { code, message, details } = result.error;
    const detailsSize = details === undefined ? 0 : measureJson(details, context.maxResultBytes);
    if (typeof detailsSize !== 'number') {
      return {
        ok: false,
        error: new GatewayError(
          'INVALID_RESULT',
          `${where} failed with error details that are ${describeMeasure(detailsSize, context.maxResultBytes)}`,
          { details: { nodeCode: code, limit: context.maxResultBytes } },
        ),
      };
    }
    const gatewayCode = PASS_THROUGH_CODES.has(code)
      ? (code as GatewayErrorCode)
      : 'COMMAND_FAILED';
    return {
      ok: false,
      error: new GatewayError(gatewayCode, `${where} failed: ${message}`, {
        details: { nodeCode: code, ...(details ? { nodeDetails: details } : {}) },
      }),
      bytes: detailsSize,
    };
  }
  const size = measureJson(result.payload, context.maxResultBytes);
  if (size === OVER_LIMIT) {
    return {
      ok: false,
      error: new GatewayError(
        'PAYLOAD_TOO_LARGE',
        `${where} returned more than gateway.nodes.maxResultBytes (${context.maxResultBytes} bytes)`,
        { details: { limit: context.maxResultBytes } },
      ),
    };
  }
  if (typeof size !== 'number') {
    return {
      ok: false,
      error: new GatewayError(
        'INVALID_RESULT',
        `${where} returned a payload that is ${describeMeasure(size, context.maxResultBytes)}`,
      ),
    };
  }
  return { ok: true, payload: result.payload, bytes: size };
}

/** Nesting a node's result may have; deeper is refused before anything recurses into it. */
export const MAX_RESULT_DEPTH = 256;
const OVER_LIMIT = 'over-limit';
const TOO_DEEP = 'too-deep';
const NOT_JSON = 'not-json';
type Unmeasurable = typeof OVER_LIMIT | typeof TOO_DEEP | typeof NOT_JSON;

function describeMeasure(problem: Unmeasurable, limit: number): string {
  if (problem === OVER_LIMIT) return `over gateway.nodes.maxResultBytes (${limit} bytes)`;
  if (problem === TOO_DEEP) return `nested deeper than ${MAX_RESULT_DEPTH} levels`;
  return 'not plain JSON';
}

/**
 * The UTF-8 size `value` would have as JSON, counted by walking it without
 * building the text, and abandoned as soon as the count passes `limit`: a
 * shared subtree is counted each time it is reached (as JSON would write
 * it), so a value made of references to references stops after `limit`
 * bytes of work instead of expanding to gigabytes. Anything JSON cannot
 * carry as is (BigInt, a function, a class instance) is not plain JSON.
 */
export function measureJson(value: unknown, limit: number): number | Unmeasurable {
  // Containers still to open, with their depth: primitives are counted where
  // they are met, so a long array of numbers costs no bookkeeping.
  const pending: object[] = [];
  const depths: number[] = [];
  let bytes = 0;
  const count = (v: unknown, depth: number): Unmeasurable | undefined => {
    switch (typeof v) {
      case 'string':
        bytes += jsonStringBytes(v);
        return undefined;
      case 'number':
        bytes += Number.isFinite(v) ? String(v).length : 4;
        return undefined;
      case 'boolean':
        bytes += v ? 4 : 5;
        return undefined;
      case 'undefined':
        bytes += 4; // only reached inside arrays, where JSON writes null
        return undefined;
      case 'object':
        if (v === null) bytes += 4;
        else if (depth >= MAX_RESULT_DEPTH) return TOO_DEEP;
        else {
          pending.push(v);
          depths.push(depth);
        }
        return undefined;
      default:
        return NOT_JSON;
    }
  };
  let problem = count(value, 0);
  while (problem === undefined && pending.length > 0) {
    const container = pending.pop()!;
    const depth = depths.pop()! + 1;
    if (Array.isArray(container)) {
      bytes += container.length === 0 ? 2 : 1 + container.length; // brackets and commas
      for (let i = 0; i < container.length && problem === undefined && bytes <= limit; i++)
        problem = count(container[i], depth);
    } else {
      const proto = Object.getPrototypeOf(container);
      if (proto !== Object.prototype && proto !== null) return NOT_JSON;
      bytes += 2; // braces
      let members = 0;
      for (const key in container) {
        const member = (container as Record<string, unknown>)[key];
        if (member === undefined) continue;
        bytes += jsonStringBytes(key) + (members++ === 0 ? 1 : 2); // "key": and a comma before it
        problem = count(member, depth);
        if (problem !== undefined || bytes > limit) break;
      }
    }
    if (bytes > limit) return OVER_LIMIT;
  }
  if (problem !== undefined) return problem;
  return bytes > limit ? OVER_LIMIT : bytes;
}

/** Bytes of `text` as a JSON string literal (quotes and escapes included). */
function jsonStringBytes(text: string): number {
  let bytes = Buffer.byteLength(text, 'utf8') + 2;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (
      c === 0x22 ||
      c === 0x5c ||
      c === 0x08 ||
      c === 0x09 ||
      c === 0x0a ||
      c === 0x0c ||
      c === 0x0d
    )
      bytes += 1;
    else if (c < 0x20) bytes += 5;
  }
  return bytes;
}

/** Params as the node will see them, and their JSON text (`''` when there are none). */
export type NodeParams = { params: unknown; json: string };

/**
 * What an operator's params become on their way to a node, which gets plain
 * JSON and nothing else: undefined properties are dropped (as JSON drops
 * them), and a value JSON cannot carry (a Set would arrive as `{}`, a Date as
 * a string) is refused by path before anything is sent. Nearly all params are
 * plain JSON already; only the others take the second walk that names the
 * culprit and the copy that drops the undefined properties.
 */
export function nodeParams(params: unknown, maxBytes: number): NodeParams {
  if (params === undefined) return { params, json: '' };
  let why: string | undefined;
  try {
    // Every walk below is as long as the params' tree, which shared references
    // (superjson's referentialEqualities) can make exponentially larger than the
    // frame: count it first, no further than a tree that could fit the limit.
    if (treeSizeOver(params, maxBytes)) {
      throw new GatewayError(
        'PAYLOAD_TOO_LARGE',
        `params hold more than ${maxBytes} values, over gateway.nodes.maxParamsBytes (${maxBytes})`,
        { details: { limit: maxBytes } },
      );
    }
    if (isPlainJson(params)) return { params, json: JSON.stringify(params) };
    why = whyNotPlainJson(params, 'params');
    if (why === undefined) {
      const json = JSON.stringify(params);
      return { params: JSON.parse(json), json };
    }
  } catch (error) {
    if (error instanceof GatewayError) throw error;
    // Only a stack overflow gets here: nesting deeper than the walk (or JSON) can follow.
    why = 'params are nested too deeply';
  }
  throw new GatewayError('BAD_REQUEST', `${why}; node params must be plain JSON`);
}

/**
 * Whether `value`'s tree (an object reached twice counted twice, as every
 * walk and JSON meet it) holds more than `max` values. Each JSON value takes
 * at least a byte, so such a tree is over a `max`-byte limit anyway; the
 * count stops there, so its work is bounded however the value is shared.
 * Objects that are not plain (a Date, a Map) count as one value; a cycle is
 * not followed (the path-naming walk reports it).
 */
function treeSizeOver(value: unknown, max: number): boolean {
  let count = 0;
  const enclosing = new Set<object>();
  const visit = (v: unknown): void => {
    count++;
    if (count > max || v === null || typeof v !== 'object' || enclosing.has(v)) return;
    const array = Array.isArray(v);
    const proto = Object.getPrototypeOf(v);
    if (!array && proto !== Object.prototype && proto !== null) return;
    enclosing.add(v);
    if (array) {
      for (let i = 0; i < v.length && count <= max; i++) visit(v[i]);
    } else {
      for (const key in v) {
        if (count > max) break;
        visit((v as Record<string, unknown>)[key]);
      }
    }
    enclosing.delete(v);
  };
  visit(value);
  return count > max;
}
