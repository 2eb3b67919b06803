import {
  NodeDetail,
  NodeHelloInput,
  NodeHelloOutput,
  NodeInvocationsInput,
  NodePairRequestInput,
  type NodePairUpdate,
  NodeProgressInput,
  NodeResultInput,
  NodeResultOutput,
  NodesDescribeInput,
  NodesInvokeInput,
  NodesInvokeOutput,
  NodesListOutput,
  NodesPairApproveInput,
  NodesPairApproveOutput,
  NodesPairRejectInput,
  NodesPairRejectOutput,
  NodesPairRemoveInput,
  NodesPairRemoveOutput,
  PendingPairRequest,
} from '@loopgate/protocol';
import * as z from 'zod';
import { raceAbort } from '../abort.js';
import { QueuedNodeConnection } from '../nodes/index.js';
import { streamBatch, trackedWithJson, unrolledStream } from '../transport/index.js';
import type { GatewayContext } from './context.js';
import { procedure, router } from './trpc.js';

/**
 * The tRPC face of the node service: `nodes.*` for operators, `node.*` for
 * nodes. All the rules live in `nodes/`; this file only adapts a WebSocket
 * subscription into a `NodeConnection` and back.
 */
export const nodesRouter = router({
  nodes: router({
    /** Every paired node (online/offline) and every pending pairing request. */
    list: procedure.output(NodesListOutput).query(({ ctx }) => ctx.services.nodes.list()),

    describe: procedure
      .input(NodesDescribeInput)
      .output(NodeDetail)
      .query(({ ctx, input }) => ctx.services.nodes.describe(input.nodeId)),

    /**
     * Runs a command on a node and waits for its answer. The call keeps running
     * if the operator's socket drops, so a retry with the same idempotencyKey
     * picks up the outcome instead of running the command again.
     */
    invoke: procedure
      .input(NodesInvokeInput)
      .output(NodesInvokeOutput)
      .mutation(({ ctx, input }) =>
        ctx.services.nodes.invoke({
          nodeId: input.nodeId,
          command: input.command,
          params: input.params,
          timeoutMs: input.timeoutMs,
          idempotencyKey: input.idempotencyKey,
        }),
      ),

    pair: router({
      list: procedure
        .output(z.array(PendingPairRequest))
        .query(({ ctx }) => ctx.services.nodes.listPending()),

      approve: procedure
        .input(NodesPairApproveInput)
        .output(NodesPairApproveOutput)
        .mutation(({ ctx, input }) => ctx.services.nodes.approve(input.requestId, input.commands)),

      reject: procedure
        .input(NodesPairRejectInput)
        .output(NodesPairRejectOutput)
        .mutation(({ ctx, input }) => ctx.services.nodes.reject(input.requestId, input.reason)),

      /** Revokes a paired node: its token stops working, its sockets close with 4010. */
      remove: procedure
        .input(NodesPairRemoveInput)
        .output(NodesPairRemoveOutput)
        .mutation(({ ctx, input }) => ctx.services.nodes.remove(input.nodeId)),
    }),
  }),

  node: router({
    pair: router({
      /**
       * The only thing an unpaired node may do. Yields `pending`, then the
       * decision (approved: the node id, nothing secret), then ends. A node
       * that drops and asks again with the same key rejoins.
       */
      request: procedure.input(NodePairRequestInput).subscription(async function* ({
        ctx,
        input,
        signal,
      }): AsyncGenerator<NodePairUpdate> {
        const nodes = ctx.services.nodes;
        const session = await nodes.requestPairing(input, ctx.conn);
        yield session.first;
        if (!session.decision) return;
        const decision = await raceAbort(
          session.decision,
          signal ?? ctx.conn.closed,
          () => undefined,
        );
        if (decision === undefined) {
          nodes.stopWaiting(ctx.conn.id);
          return;
        }
        yield decision;
      }),
    }),

    /** Declares the node's commands; answers with what operators may invoke and the size limits. */
    hello: procedure
      .input(NodeHelloInput)
      .output(NodeHelloOutput)
      .mutation(({ ctx, input }) => ctx.services.nodes.hello(ctx.conn, input)),

    /**
     * The node's inbox: invocations and cancels, while subscribed. The input
     * re-declares the commands, so tRPC's automatic resubscription after a
     * reconnect brings the node back exactly as it was.
     */
    invocations: procedure
      .input(NodeInvocationsInput)
      .subscription(({ ctx, input, signal }) => unrolledStream(nodeInbox(ctx, input, signal))),

    /** The node's answer. Late answers (after a timeout or cancel) return `accepted: false`. */
    result: procedure
      .input(NodeResultInput)
      .output(NodeResultOutput)
      .mutation(({ ctx, input }) => ctx.services.nodes.postResult(ctx.conn, input)),

    progress: procedure
      .input(NodeProgressInput)
      .output(NodeResultOutput)
      .mutation(({ ctx, input }) => ctx.services.nodes.postProgress(ctx.conn, input)),
  }),
});

/**
 * The node's inbox as a stream: the socket's `QueuedNodeConnection`, attached
 * to the node service for as long as the subscription lasts.
 */
async function* nodeInbox(
  ctx: GatewayContext,
  input: NodeInvocationsInput,
  signal: AbortSignal | undefined,
) {
  const nodes = ctx.services.nodes;
  const connection = new QueuedNodeConnection({
    connectionId: ctx.conn.id,
    nodeId: ctx.conn.nodeId ?? '',
    close: (code, reason) => ctx.conn.close(code, reason),
  });
  nodes.attachInvocations(
    ctx.conn,
    { commands: input.commands, platform: input.platform, version: input.version },
    connection,
  );
  // React to the close itself (not to the generator unwinding), so callers
  // get NODE_DISCONNECTED the moment the socket goes.
  const end = () => {
    connection.end();
    nodes.detachInvocations(connection, ctx.conn.closed.aborted ? 'disconnected' : 'stream ended');
  };
  const stop = signal ?? ctx.conn.closed;
  stop.addEventListener('abort', end, { once: true });
  ctx.conn.closed.addEventListener('abort', end, { once: true });
  try {
    for await (const batch of connection.batches()) {
      yield streamBatch(
        batch.map(({ message, json }) =>
          trackedWithJson(`${message.invocationId}:${message.kind}`, message, json),
        ),
      );
    }
  } finally {
    stop.removeEventListener('abort', end);
    ctx.conn.closed.removeEventListener('abort', end);
    end();
  }
}
