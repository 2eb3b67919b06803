import { agentRouter } from './agent-router.js';
import { nodesRouter } from './nodes-router.js';
import { operatorRouter } from './operator-router.js';
import { mergeRouters } from './trpc.js';

/**
 * The whole contract. Each concern contributes a sub-router; register new
 * ones here (nodes.*, node.*, agent.*, sessions.*, send).
 */
export const appRouter = mergeRouters(operatorRouter, nodesRouter, agentRouter);

export type AppRouter = typeof appRouter;
