import { GatewayError, GatewayErrorCode, gatewayCodeFromTrpc } from '@loopgate/protocol';
import { TRPCClientError } from '@trpc/client';

/** The error shape a tRPC server sends, after the transformer has decoded it. */
type ErrorShape = {
  code?: unknown;
  message?: unknown;
  data?: {
    code?: unknown;
    gatewayCode?: unknown;
    details?: unknown;
    issues?: unknown;
  } | null;
};

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/**
 * Rebuilds the gateway's error from a tRPC error shape: `data.gatewayCode`
 * when the server is a Loopgate gateway, else the closest code to tRPC's own
 * (`data.code`). Schema errors keep which field was wrong in
 * `details.issues`. Stack traces a stock server may add are dropped.
 */
export function gatewayErrorFromShape(shape: unknown): GatewayError {
  const s = (isRecord(shape) ? shape : {}) as ErrorShape;
  const data = isRecord(s.data) ? s.data : undefined;
  const parsed = GatewayErrorCode.safeParse(data?.gatewayCode);
  const code = parsed.success
    ? parsed.data
    : gatewayCodeFromTrpc(typeof data?.code === 'string' ? data.code : undefined);
  const message =
    typeof s.message === 'string' && s.message !== '' ? s.message : `gateway error ${code}`;
  let details = isRecord(data?.details) ? data.details : undefined;
  if (Array.isArray(data?.issues)) details = { ...details, issues: data.issues };
  return new GatewayError(code, message, details ? { details } : undefined);
}

/** The `TRPCClientError` tRPC's client machinery expects, carrying the gateway error as its cause. */
export function trpcErrorFromShape(
  shape: unknown,
  error = gatewayErrorFromShape(shape),
): TRPCClientError<never> {
  return new TRPCClientError(error.message, {
    result: { error: shape } as never,
    cause: error,
  });
}

/** Wraps a client-side failure (connection lost, refused, cancelled) for tRPC's machinery. */
export function trpcErrorFrom(error: GatewayError): TRPCClientError<never> {
  return new TRPCClientError(error.message, { cause: error });
}

/**
 * Whatever a call threw, as a `GatewayError`: this client's own errors pass
 * through, a `TRPCClientError` (from this client or a stock one) is rebuilt
 * from its cause or its error shape, anything else becomes `INTERNAL`
 * without leaking its stack.
 */
export function toGatewayError(err: unknown): GatewayError {
  if (err instanceof GatewayError) return err;
  if (err instanceof TRPCClientError) {
    if (err.cause instanceof GatewayError) return err.cause;
    if (err.shape) return gatewayErrorFromShape(err.shape);
    if (err.data) return gatewayErrorFromShape({ message: err.message, data: err.data });
    return new GatewayError(
      'UNAVAILABLE',
      err.message || 'the request failed before the gateway answered',
    );
  }
  if (err instanceof Error) {
    if (err.name === 'AbortError') return new GatewayError('CANCELLED', 'the call was cancelled');
    return new GatewayError('INTERNAL', err.message || 'unexpected client error');
  }
  return new GatewayError('INTERNAL', typeof err === 'string' ? err : 'unexpected client error');
}

/**
 * The URL as an operator may see it in messages: scheme, host, port and
 * path only — never user info or a query string, where credentials hide.
 */
export function displayUrl(url: string): string {
  try {
    const u = new URL(url);
    const path = u.pathname === '/' ? '' : u.pathname;
    return `${u.protocol}//${u.host}${path}`;
  } catch {
    // Only for display in an error message: a URL that does not parse is shown as such.
    return '(invalid URL)';
  }
}
