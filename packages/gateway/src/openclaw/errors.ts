import { GatewayError, type GatewayErrorCode } from '@loopgate/protocol';
import { TRPCError } from '@trpc/server';
import { ZodError } from 'zod';

/** OpenClaw's top-level error codes (its `ErrorCodes`); `details.code` carries the finer reason. */
export type OpenClawErrorCode = 'INVALID_REQUEST' | 'UNAVAILABLE' | 'NOT_PAIRED' | 'FORBIDDEN';

/** The `error` of a `res` frame: `{ code, message, details?, retryable?, retryAfterMs? }`. */
export class OpenClawError extends Error {
  readonly code: OpenClawErrorCode;
  readonly details: Record<string, unknown> | undefined;
  readonly retryAfterMs: number | undefined;

  constructor(
    code: OpenClawErrorCode,
    message: string,
    details?: Record<string, unknown>,
    retryAfterMs?: number,
  ) {
    super(message);
    this.code = code;
    this.details = details;
    this.retryAfterMs = retryAfterMs;
  }

  toFrame(): Record<string, unknown> {
    return {
      code: this.code,
      message: this.message,
      ...(this.details ? { details: this.details } : {}),
      ...(this.retryAfterMs !== undefined
        ? { retryable: true, retryAfterMs: this.retryAfterMs }
        : this.code === 'UNAVAILABLE'
          ? { retryable: true }
          : {}),
    };
  }
}

/** The Loopgate code a caller of ours would have seen, for each OpenClaw code it becomes. */
const OPENCLAW_CODE: Record<GatewayErrorCode, OpenClawErrorCode> = {
  UNAUTHORIZED: 'INVALID_REQUEST',
  FORBIDDEN: 'FORBIDDEN',
  COMMAND_NOT_ALLOWED: 'FORBIDDEN',
  NOT_PAIRED: 'NOT_PAIRED',
  NOT_CONNECTED: 'UNAVAILABLE',
  NODE_DISCONNECTED: 'UNAVAILABLE',
  TIMEOUT: 'UNAVAILABLE',
  RATE_LIMITED: 'UNAVAILABLE',
  LIMIT_EXCEEDED: 'UNAVAILABLE',
  UNAVAILABLE: 'UNAVAILABLE',
  TUNNEL_FAILED: 'UNAVAILABLE',
  COMMAND_FAILED: 'UNAVAILABLE',
  INTERNAL: 'UNAVAILABLE',
  NOT_FOUND: 'INVALID_REQUEST',
  BAD_REQUEST: 'INVALID_REQUEST',
  INVALID_RESULT: 'INVALID_REQUEST',
  PAYLOAD_TOO_LARGE: 'INVALID_REQUEST',
  CONFLICT: 'INVALID_REQUEST',
  CANCELLED: 'INVALID_REQUEST',
  TLS_PIN_MISMATCH: 'INVALID_REQUEST',
};

/**
 * A Loopgate failure in OpenClaw's terms. The Loopgate code always rides
 * along as `details.loopgateCode`; a scope refusal also gets OpenClaw's
 * `MISSING_SCOPE` details, and a lockout its `AUTH_RATE_LIMITED` and retry time.
 */
export function toOpenClawError(error: unknown): OpenClawError {
  if (error instanceof OpenClawError) return error;
  const cause = error instanceof TRPCError ? error.cause : error;
  if (cause instanceof ZodError) {
    const issues = cause.issues
      .slice(0, 5)
      .map((i) => `${i.path.join('.') || 'params'}: ${i.message}`);
    return new OpenClawError('INVALID_REQUEST', `invalid params: ${issues.join('; ')}`, {
      loopgateCode: 'BAD_REQUEST',
    });
  }
  if (!(cause instanceof GatewayError)) {
    return new OpenClawError('UNAVAILABLE', 'internal error', { loopgateCode: 'INTERNAL' });
  }
  const details: Record<string, unknown> = { ...cause.details, loopgateCode: cause.code };
  const required = cause.details?.required;
  if (
    cause.code === 'FORBIDDEN' &&
    typeof required === 'string' &&
    required.startsWith('operator.')
  ) {
    Object.assign(details, {
      code: 'MISSING_SCOPE',
      missingScope: required,
      requiredScopes: [required],
    });
  }
  if (cause.code === 'NOT_PAIRED') details.code = 'PAIRING_REQUIRED';
  const retryAfterMs = cause.details?.retryAfterMs;
  if (cause.code === 'RATE_LIMITED') details.code = 'AUTH_RATE_LIMITED';
  return new OpenClawError(
    OPENCLAW_CODE[cause.code],
    cause.message,
    details,
    typeof retryAfterMs === 'number' ? retryAfterMs : undefined,
  );
}

/**
 * An OpenClaw node's error code as a Loopgate node error code: the ones that
 * mean the same to the caller pass through (see nodes/invocation.ts), the
 * rest arrive as COMMAND_FAILED with `details.nodeCode` naming them.
 */
export function nodeErrorCode(code: string | undefined): string {
  if (code === 'INVALID_REQUEST') return 'BAD_REQUEST';
  if (code === 'FORBIDDEN' || code === 'NOT_PAIRED') return 'FORBIDDEN';
  return code && /^[A-Za-z0-9_.-]{1,64}$/.test(code) ? code : 'COMMAND_FAILED';
}
