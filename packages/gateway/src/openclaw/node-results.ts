import type { NodeInvocationMessage } from '@loopgate/protocol';
import { MAX_RESULT_DEPTH } from '../nodes/index.js';
import { nodeErrorCode } from './errors.js';
import { InvokeResultParams, jsonDepthWithin } from './frames.js';

export type NodeResultTranslation = { nodeId: string; loopgate: Record<string, unknown> };

/**
 * An OpenClaw `node.invoke.result` as the Loopgate `node.result` it means.
 * `payloadJSON` (what its node host sends) is decoded here, after a depth
 * check; anything unreadable still reaches the waiting caller, as
 * INVALID_RESULT, instead of leaving it to time out.
 */
export function translateInvokeResult(params: unknown): NodeResultTranslation {
  const result = InvokeResultParams.parse(params);
  const base = { invocationId: result.id };
  if (!result.ok) {
    const code = nodeErrorCode(result.error?.code);
    return {
      nodeId: result.nodeId,
      loopgate: {
        ...base,
        ok: false,
        error: {
          code,
          message: result.error?.message || 'the node reported a failure',
          ...(code !== result.error?.code && result.error?.code
            ? { details: { openclawCode: result.error.code.slice(0, 64) } }
            : {}),
        },
      },
    };
  }
  if (result.payloadJSON === undefined) {
    return { nodeId: result.nodeId, loopgate: { ...base, ok: true, payload: result.payload } };
  }
  const payload = decodePayload(result.payloadJSON);
  return {
    nodeId: result.nodeId,
    loopgate: payload.ok
      ? { ...base, ok: true, payload: payload.value }
      : {
          ...base,
          ok: false,
          error: {
            code: 'INVALID_RESULT',
            message: `payloadJSON is not JSON, or nested deeper than ${MAX_RESULT_DEPTH} levels`,
          },
        },
  };
}

function decodePayload(text: string): { ok: true; value: unknown } | { ok: false } {
  if (!jsonDepthWithin(text, MAX_RESULT_DEPTH)) return { ok: false };
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false };
  }
}

/**
 * A Loopgate invocation or cancel as the OpenClaw event its node host reads:
 * `node.invoke.request` (params as `paramsJSON`) or `node.invoke.cancel`.
 */
export function invocationEvent(
  message: NodeInvocationMessage,
  deviceId: string,
): { event: string; payload: Record<string, unknown> } {
  if (message.kind === 'cancel') {
    return {
      event: 'node.invoke.cancel',
      payload: { invokeId: message.invocationId, nodeId: deviceId },
    };
  }
  return {
    event: 'node.invoke.request',
    payload: {
      id: message.invocationId,
      nodeId: deviceId,
      command: message.command,
      paramsJSON: message.params === undefined ? null : JSON.stringify(message.params),
      timeoutMs: message.timeoutMs,
    },
  };
}
