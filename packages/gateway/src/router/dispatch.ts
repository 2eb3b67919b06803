import { GatewayError } from '@loopgate/protocol';
import { callTRPCProcedure } from '@trpc/server';
import type { GatewayServices } from '../services.js';
import { appRouter } from './app-router.js';

type ProcedureKind = { _def: { type: 'query' | 'mutation' | 'subscription' } };

/**
 * The `call` door: runs a query or mutation by its dotted name with the
 * caller's own context, so the same authorization middleware decides.
 */
export const dispatchByName: GatewayServices['dispatch'] = async (method, params, ctx, signal) => {
  const procedure = (
    appRouter._def.procedures as unknown as Record<string, ProcedureKind | undefined>
  )[method];
  if (!procedure) throw new GatewayError('NOT_FOUND', `no procedure named "${method}"`);
  if (procedure._def.type === 'subscription') {
    throw new GatewayError(
      'BAD_REQUEST',
      `"${method}" is a subscription; subscribe to it instead of calling it`,
    );
  }
  return callTRPCProcedure({
    router: appRouter,
    path: method,
    getRawInput: async () => params,
    ctx,
    type: procedure._def.type,
    signal,
    batchIndex: 0,
  });
};
