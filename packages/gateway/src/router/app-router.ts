import type { ProcedureKind } from '@loopgate/protocol';
import { accessRouter } from './access-router.js';
import { agentRouter } from './agent-router.js';
import { logsRouter } from './logs-router.js';
import { nodesRouter } from './nodes-router.js';
import { operatorRouter } from './operator-router.js';
import { mergeRouters } from './trpc.js';

/**
 * The whole contract. Each concern contributes a sub-router; register new
 * ones here (nodes.*, node.*, agent.*, sessions.*, send). Who may call each
 * procedure is in `authorization/access-table.ts`, and nowhere else.
 */
export const appRouter = mergeRouters(
  operatorRouter,
  accessRouter,
  logsRouter,
  nodesRouter,
  agentRouter,
);

export type AppRouter = typeof appRouter;

/** The procedures this gateway serves, by dotted path, as the contract lists them. */
export function servedProcedures(): Record<string, ProcedureKind> {
  // `_def.procedures` is tRPC's flat map of every path, typed as the nested router record.
  const procedures = appRouter._def.procedures as unknown as Record<
    string,
    { _def: { type: ProcedureKind } }
  >;
  return Object.fromEntries(
    Object.entries(procedures).map(([path, procedure]) => [path, procedure._def.type]),
  );
}
