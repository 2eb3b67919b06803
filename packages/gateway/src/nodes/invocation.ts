import {
  GatewayError,
  type GatewayErrorCode,
  type InvocationPhase,
  NodeResult,
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

export type InvocationOutcome = { ok: true; payload: unknown } | { ok: false; error: GatewayError };

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
    const gatewayCode = PASS_THROUGH_CODES.has(code)
      ? (code as GatewayErrorCode)
      : 'COMMAND_FAILED';
    return {
      ok: false,
      error: new GatewayError(gatewayCode, `${where} failed: ${message}`, {
        details: { nodeCode: code, ...(details ? { nodeDetails: details } : {}) },
      }),
    };
  }
  const size = jsonByteLength(result.payload);
  if (size === undefined) {
    return {
      ok: false,
      error: new GatewayError(
        'INVALID_RESULT',
        `${where} returned a payload that is not plain JSON`,
      ),
    };
  }
  if (size > context.maxResultBytes) {
    return {
      ok: false,
      error: new GatewayError(
        'PAYLOAD_TOO_LARGE',
        `${where} returned ${size} bytes, over gateway.nodes.maxResultBytes (${context.maxResultBytes})`,
        { details: { bytes: size, limit: context.maxResultBytes } },
      ),
    };
  }
  return { ok: true, payload: result.payload };
}

/** UTF-8 size of `value` as JSON; undefined when it is not JSON (cycles, BigInt, functions). */
export function jsonByteLength(value: unknown): number | undefined {
  const text = jsonText(value);
  return text === undefined ? undefined : Buffer.byteLength(text, 'utf8');
}

/** `value` as JSON text (`''` for undefined), or undefined when it is not plain JSON (a cycle, a BigInt, a function). */
export function jsonText(value: unknown): string | undefined {
  if (value === undefined) return '';
  try {
    return JSON.stringify(value);
  } catch {
    return undefined;
  }
}
