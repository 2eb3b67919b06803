import {
  AgentEventsInput,
  AgentInput,
  AgentRunRefInput,
  AgentRunResult,
  AgentStartOutput,
  AgentWaitInput,
  GatewayError,
  SendInput,
  SendOutput,
  SessionsDeleteInput,
  SessionsDeleteOutput,
  SessionsHistoryInput,
  SessionsHistoryOutput,
  SessionsListInput,
  SessionsListOutput,
  SessionsResetInput,
  SessionsResetOutput,
} from '@loopgate/protocol';
import { tracked } from '@trpc/server';
import { procedure, router } from './trpc.js';

/**
 * `agent` and its companions, `sessions.*` and `send`: the tRPC face of the
 * agent runtime, the session store and the channels. The rules live in
 * `agent/`, `sessions/` and `channels/`.
 *
 * `agent` is itself a procedure, so its companions are flat dotted keys
 * (`agent.wait`, ...): a typed client calls `client.agent.mutate(...)` and
 * `client['agent.wait'].query(...)`; on the wire (and through `call`) the
 * names are the same dotted paths as everywhere else.
 */
export const agentRouter = router({
  /** Starts a turn (queued behind a run already going in that session) and returns at once. */
  agent: procedure
    .input(AgentInput)
    .output(AgentStartOutput)
    .mutation(({ ctx, input }) =>
      ctx.services.agent.start({
        sessionId: input.sessionId,
        message: input.message,
        idempotencyKey: input.idempotencyKey,
        source: { channel: 'webchat' },
      }),
    ),

  /** The run's result once it is over; TIMEOUT if it is still going after `timeoutMs` (it keeps going). */
  'agent.wait': procedure
    .input(AgentWaitInput)
    .output(AgentRunResult)
    .query(({ ctx, input }) =>
      ctx.services.agent.wait(input.runId, input.timeoutMs, ctx.conn.closed),
    ),

  /** The run as it is now, without waiting. */
  'agent.get': procedure
    .input(AgentRunRefInput)
    .output(AgentRunResult)
    .query(({ ctx, input }) => ctx.services.agent.get(input.runId)),

  'agent.cancel': procedure
    .input(AgentRunRefInput)
    .output(AgentRunResult)
    .mutation(({ ctx, input }) => ctx.services.agent.cancel(input.runId)),

  /**
   * A run's events (ends after its final state), a session's (every run in it,
   * and messages sent into it), or every run's. Tracked: a client that
   * reconnects resumes after the last id it saw, with nothing lost or repeated.
   */
  'agent.events': procedure.input(AgentEventsInput).subscription(async function* ({
    ctx,
    input,
    signal,
  }) {
    const agent = ctx.services.agent;
    if (input?.runId !== undefined && !agent.hasRun(input.runId)) {
      throw new GatewayError('NOT_FOUND', `no run ${input.runId}`);
    }
    const events = agent.hub.subscribe({
      runId: input?.runId,
      sessionId: input?.sessionId,
      lastEventId: input?.lastEventId,
      signal: signal ?? ctx.conn.closed,
    });
    for await (const [id, event] of events) yield tracked(id, event);
  }),

  sessions: router({
    list: procedure
      .input(SessionsListInput)
      .output(SessionsListOutput)
      .query(({ ctx, input }) => {
        const { sessions, total } = ctx.services.sessions.list({
          channel: input?.channel,
          limit: input?.limit ?? 100,
        });
        return { sessions: sessions.map((s) => ctx.services.agent.sessionInfo(s)), total };
      }),

    history: procedure
      .input(SessionsHistoryInput)
      .output(SessionsHistoryOutput)
      .query(async ({ ctx, input }) => {
        const page = await ctx.services.sessions.history(input.sessionId, {
          limit: input.limit,
          before: input.before,
        });
        return { sessionId: input.sessionId, ...page };
      }),

    /** Starts the session over (the old transcript is archived); refused while a run is active. */
    reset: procedure
      .input(SessionsResetInput)
      .output(SessionsResetOutput)
      .mutation(async ({ ctx, input }) => ({
        sessionId: input.sessionId,
        cleared: await ctx.services.agent.resetSession(input.sessionId),
      })),

    /** Deletes the session and its transcripts; refused while a run is active or queued in it. */
    delete: procedure
      .input(SessionsDeleteInput)
      .output(SessionsDeleteOutput)
      .mutation(({ ctx, input }) => ctx.services.agent.deleteSession(input.sessionId)),
  }),

  /** Delivers a message through a channel; the same idempotency key never sends twice. */
  send: procedure
    .input(SendInput)
    .output(SendOutput)
    .mutation(({ ctx, input }) => ctx.services.channels.send(input)),
});
