import {
  fastTransformer,
  GatewayError,
  type GatewayErrorCode,
  type GatewayErrorData,
  gatewayCodeFromTrpc,
  trpcCodeFor,
} from '@loopgate/protocol';
import { initTRPC, TRPCError } from '@trpc/server';
import { ZodError } from 'zod';
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
 * The one middleware in front of every procedure: only the roles named may
 * call it, and a `GatewayError` thrown inside comes out with its tRPC code
 * (NOT_FOUND, CONFLICT, ...) instead of INTERNAL_SERVER_ERROR. One layer,
 * not two: each middleware level is an async call and an options object per
 * request, on every call the gateway serves.
 */
function requireRole(...roles: GatewayContext['conn']['role'][]) {
  return t.middleware(async ({ ctx, next }) => {
    if (!roles.includes(ctx.conn.role)) {
      const reason =
        ctx.conn.role === 'pairing'
          ? 'an unpaired node may only request pairing (node.pair.request)'
          : `this procedure is for ${roles.join(' or ')} connections`;
      throw toTrpcError(
        new GatewayError(ctx.conn.role === 'pairing' ? 'NOT_PAIRED' : 'FORBIDDEN', reason),
      );
    }
    const result = await next();
    if (!result.ok && result.error.cause instanceof GatewayError) {
      const mapped = toTrpcError(result.error.cause);
      Object.assign(result.error, { code: mapped.code });
    }
    return result;
  });
}

/** Operators: the CLI, the dashboard, scripts. */
export const operatorProcedure = t.procedure.use(requireRole('operator'));
/** Paired nodes only. */
export const nodeProcedure = t.procedure.use(requireRole('node'));
/** Unpaired nodes asking to be paired (and nothing else). */
export const pairingProcedure = t.procedure.use(requireRole('pairing'));
