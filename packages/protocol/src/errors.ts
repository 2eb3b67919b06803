import * as z from 'zod';

/**
 * Every error a client can branch on. They travel in the tRPC error shape as
 * `error.data.gatewayCode` (the tRPC `data.code` stays the closest HTTP-ish
 * tRPC code, so stock clients still see something sensible).
 */
export const GatewayErrorCode = z.enum([
  'UNAUTHORIZED',
  'FORBIDDEN',
  'NOT_FOUND',
  'NOT_PAIRED',
  'NOT_CONNECTED',
  'NODE_DISCONNECTED',
  'COMMAND_NOT_ALLOWED',
  'COMMAND_FAILED',
  'INVALID_RESULT',
  'TIMEOUT',
  'CANCELLED',
  'BAD_REQUEST',
  'RATE_LIMITED',
  'PAYLOAD_TOO_LARGE',
  'CONFLICT',
  'LIMIT_EXCEEDED',
  'UNAVAILABLE',
  'TLS_PIN_MISMATCH',
  'TUNNEL_FAILED',
  'INTERNAL',
]);
export type GatewayErrorCode = z.infer<typeof GatewayErrorCode>;

/** tRPC's own error codes, as the server side of tRPC names them. */
export type TrpcErrorCodeKey =
  | 'BAD_REQUEST'
  | 'UNAUTHORIZED'
  | 'FORBIDDEN'
  | 'NOT_FOUND'
  | 'TIMEOUT'
  | 'CONFLICT'
  | 'PRECONDITION_FAILED'
  | 'PAYLOAD_TOO_LARGE'
  | 'TOO_MANY_REQUESTS'
  | 'CLIENT_CLOSED_REQUEST'
  | 'INTERNAL_SERVER_ERROR'
  | 'BAD_GATEWAY'
  | 'SERVICE_UNAVAILABLE';

export const trpcCodeFor: Record<GatewayErrorCode, TrpcErrorCodeKey> = {
  UNAUTHORIZED: 'UNAUTHORIZED',
  FORBIDDEN: 'FORBIDDEN',
  NOT_FOUND: 'NOT_FOUND',
  NOT_PAIRED: 'FORBIDDEN',
  NOT_CONNECTED: 'PRECONDITION_FAILED',
  NODE_DISCONNECTED: 'BAD_GATEWAY',
  COMMAND_NOT_ALLOWED: 'FORBIDDEN',
  COMMAND_FAILED: 'BAD_GATEWAY',
  INVALID_RESULT: 'BAD_GATEWAY',
  TIMEOUT: 'TIMEOUT',
  CANCELLED: 'CLIENT_CLOSED_REQUEST',
  BAD_REQUEST: 'BAD_REQUEST',
  RATE_LIMITED: 'TOO_MANY_REQUESTS',
  PAYLOAD_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  CONFLICT: 'CONFLICT',
  LIMIT_EXCEEDED: 'TOO_MANY_REQUESTS',
  UNAVAILABLE: 'SERVICE_UNAVAILABLE',
  TLS_PIN_MISMATCH: 'UNAUTHORIZED',
  TUNNEL_FAILED: 'SERVICE_UNAVAILABLE',
  INTERNAL: 'INTERNAL_SERVER_ERROR',
};

/** Inverse mapping for errors that did not come with a gateway code (stock tRPC errors). */
export function gatewayCodeFromTrpc(code: string | undefined): GatewayErrorCode {
  switch (code) {
    case 'PARSE_ERROR':
    case 'BAD_REQUEST':
    case 'UNPROCESSABLE_CONTENT':
    case 'METHOD_NOT_SUPPORTED':
      return 'BAD_REQUEST';
    case 'UNAUTHORIZED':
      return 'UNAUTHORIZED';
    case 'FORBIDDEN':
      return 'FORBIDDEN';
    case 'NOT_FOUND':
      return 'NOT_FOUND';
    case 'TIMEOUT':
      return 'TIMEOUT';
    case 'CONFLICT':
      return 'CONFLICT';
    case 'PAYLOAD_TOO_LARGE':
      return 'PAYLOAD_TOO_LARGE';
    case 'TOO_MANY_REQUESTS':
      return 'RATE_LIMITED';
    case 'CLIENT_CLOSED_REQUEST':
      return 'CANCELLED';
    case 'SERVICE_UNAVAILABLE':
      return 'UNAVAILABLE';
    default:
      return 'INTERNAL';
  }
}

/** What `error.data` carries on the wire, beyond tRPC's own fields. */
export const GatewayErrorData = z.object({
  code: z.string(),
  httpStatus: z.number().optional(),
  path: z.string().optional(),
  gatewayCode: GatewayErrorCode,
  /** Machine-readable extras (retryAfterMs, expected/presented fingerprints, ...). Never secrets. */
  details: z.record(z.string(), z.unknown()).optional(),
  /** For schema errors: which input field was wrong and why. */
  issues: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
});
export type GatewayErrorData = z.infer<typeof GatewayErrorData>;

/** A short operator-facing hint for each code: what to try next. */
export const errorHints: Partial<Record<GatewayErrorCode, string>> = {
  UNAUTHORIZED:
    'check the credential: --token / --token-file, LOOPGATE_GATEWAY_TOKEN, gateway.remote.token in remote mode, or the state dir token file (in password mode: --password, LOOPGATE_GATEWAY_PASSWORD, gateway.remote.password)',
  NOT_PAIRED: 'pair the node first: loopgate nodes pending / loopgate nodes approve <id>',
  NOT_CONNECTED: 'the node is known but offline: start it with loopgate node run',
  NODE_DISCONNECTED: 'the node went away mid-call; it will be invocable again when it reconnects',
  COMMAND_NOT_ALLOWED: 'the node does not offer this command, or it was not approved at pairing',
  TIMEOUT: 'raise --timeout or gateway.nodes.invokeTimeoutMs',
  RATE_LIMITED: 'too many failed attempts from this address; wait and retry',
  TLS_PIN_MISMATCH:
    'the server certificate changed: verify it (loopgate gateway probe) before re-pinning',
};

/**
 * The one error type both sides throw and catch. The gateway maps it onto the
 * tRPC error shape; the client rebuilds it from `error.data.gatewayCode`, so
 * `err.code` is the same union everywhere.
 */
export class GatewayError extends Error {
  override readonly name = 'GatewayError';
  readonly code: GatewayErrorCode;
  readonly details: Record<string, unknown> | undefined;

  constructor(
    code: GatewayErrorCode,
    message: string,
    options?: { details?: Record<string, unknown>; cause?: unknown },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = options?.details;
  }

  /** One operator-facing line: what failed, why, and what to try. */
  describe(): string {
    const hint = errorHints[this.code];
    return hint ? `${this.message} — ${hint}` : this.message;
  }
}

export function isGatewayError(value: unknown, code?: GatewayErrorCode): value is GatewayError {
  return value instanceof GatewayError && (code === undefined || value.code === code);
}
