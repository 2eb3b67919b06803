import {
  CallInput,
  EventsInput,
  GatewayError,
  HealthOutput,
  StatusInput,
  StatusOutput,
} from '@loopgate/protocol';
import { streamBatch, trackedWithJson, unrolledStream } from '../transport/index.js';
import { procedure, router } from './trpc.js';

/**
 * What every operator needs first: is it alive, what is it, the untyped door,
 * and the event stream. Concern routers (nodes, agent, ...) merge beside it.
 */
export const operatorRouter = router({
  health: procedure.output(HealthOutput).query(({ ctx }) => ctx.services.health()),

  status: procedure
    .input(StatusInput)
    .output(StatusOutput)
    .query(({ ctx, input }) => ctx.services.status({ deep: input?.deep ?? false })),

  /**
   * The `call` door: any procedure by dotted name with JSON params, for
   * shells and other languages. It runs through the same validation and the
   * authorization table entry of the method it names, as a typed call does,
   * and fails with the same typed errors. (tRPC reserves the key `call` at
   * every level — its client is a function proxy — hence `callMethod`; the
   * CLI still says `loopgate gateway call`.)
   */
  callMethod: procedure.input(CallInput).mutation(({ ctx, input, signal }) => {
    if (input.method === 'callMethod')
      throw new GatewayError('BAD_REQUEST', '`callMethod` cannot call itself');
    return ctx.services.dispatch(input.method, input.params, ctx, signal);
  }),

  auth: router({
    /** Replaces the generated token; every operator on the old one is disconnected. */
    rotateToken: procedure.mutation(({ ctx }) => ctx.services.rotateToken()),
  }),

  /** The event stream; tRPC's tracked ids let a reconnecting client resume with no gap. */
  events: procedure.input(EventsInput).subscription(({ ctx, input, signal }) =>
    unrolledStream(
      ctx.services.events.subscribeAs(
        {
          lastEventId: input?.lastEventId,
          types: input?.types,
          signal: signal ?? ctx.conn.closed,
        },
        trackedWithJson,
        streamBatch,
      ),
    ),
  ),
});
