import {
  CloseCode,
  fastTransformer,
  GatewayError,
  type GatewayErrorCode,
  type GatewayErrorData,
  gatewayCodeFromTrpc,
  trpcCodeFor,
} from '@loopgate/protocol';
import { initTRPC, TRPCError } from '@trpc/server';
import { ZodError } from 'zod';
import { refusal } from '../authorization/index.js';
// From its file, not transport's index: that door's RpcConnection imports this module.
import { gateMiddleware } from '../transport/procedure-call.js';
import type { GatewayContext } from './context.js';

/** Converts a domain error into the tRPC error the adapter sends. */
export function toTrpcError(error: GatewayError): TRPCError {
  return new TRPCError({ code: trpcCodeFor[error.code], message: error.message, cause: error });
}

function gatewayErrorOf(error: TRPCError): {
  code: GatewayErrorCode;
  details?: Record<string, unknown>;
} {
  const cause = error.cause;
  if (cause instanceof GatewayError)
    return { code: cause.code, ...(cause.details ? { details: cause.details } : {}) };
  return { code: gatewayCodeFromTrpc(error.code) };
}

const t = initTRPC.context<GatewayContext>().create({
  transformer: fastTransformer,
  // tRPC's default (dev unless NODE_ENV=production) reads every error's
  // `.stack` into its shape, which the formatter below drops again: a stack
  // formatted for nothing on each refused request, most of what a bad
  // request cost (docs/hardening.md, the refused-request row).
  isDev: false,
  // Error frames carry a code, a message and, for bad input, which field was
  // wrong — never a stack trace, a file path or a credential.
  errorFormatter({ shape, error }) {
    const { code, details } = gatewayErrorOf(error);
    const zod = error.cause instanceof ZodError ? error.cause : undefined;
    const message = zod
      ? `invalid input: ${zod.issues.map((i) => `${i.path.join('.') || '(input)'}: ${i.message}`).join('; ')}`
      : code === 'INTERNAL' && !(error.cause instanceof GatewayError)
        ? 'internal error'
        : shape.message;
    const data: GatewayErrorData = {
      code: shape.data.code,
      httpStatus: shape.data.httpStatus,
      ...(shape.data.path ? { path: shape.data.path } : {}),
      gatewayCode: zod ? 'BAD_REQUEST' : code,
      ...(details ? { details } : {}),
      ...(zod
        ? { issues: zod.issues.map((i) => ({ path: i.path.join('.'), message: i.message })) }
        : {}),
    };
    return { code: shape.code, message, data };
  },
});

export const router = t.router;
export const mergeRouters = t.mergeRouters;
export const createCallerFactory = t.createCallerFactory;

/**
 * The one middleware in front of every procedure. It asks the authorization
 * table (`authorization/`) whether this connection's principal may call the
 * path — deny by default — and refuses a credential that expired while the
 * socket was open. A `GatewayError` thrown inside comes out with its tRPC
 * code (NOT_FOUND, CONFLICT, ...) instead of INTERNAL_SERVER_ERROR. One
 * layer, and a gate (`gateMiddleware`): the adapter runs each call's check,
 * parsers and resolver as one function call, not an async chain.
 */
const authorize = t.middleware(
  gateMiddleware<GatewayContext>({
    check({ conn }, path) {
      if (conn.expiresAt !== undefined && Date.now() >= conn.expiresAt) {
        const expired = credentialExpired(conn);
        conn.close(CloseCode.unauthorized, `UNAUTHORIZED: ${expired.message}`);
        throw toTrpcError(expired);
      }
      const denied = refusal(conn.principal, path);
      if (denied) throw toTrpcError(denied);
    },
    onError(error) {
      if (error.cause instanceof GatewayError) {
        Object.assign(error, { code: toTrpcError(error.cause).code });
      }
    },
  }),
);

function credentialExpired(conn: GatewayContext['conn']): GatewayError {
  const name = conn.credentialName ? ` "${conn.credentialName}"` : '';
  return new GatewayError(
    'UNAUTHORIZED',
    `the operator token${name} expired at ${new Date(conn.expiresAt ?? 0).toISOString()}`,
  );
}

/**
 * Every procedure is declared with this; who may call it is the table's
 * business, not the router's.
 */
export const procedure = t.procedure.use(authorize);
