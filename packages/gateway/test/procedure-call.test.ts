import { callTRPCProcedure, initTRPC, TRPCError } from '@trpc/server';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { callProcedure, type ProcedureCall } from '../src/transport/procedure-call.js';

type Ctx = { user: string | null; trail: string[] };
const t = initTRPC.context<Ctx>().create();

const authed = t.procedure.use(({ ctx, next }) => {
  if (!ctx.user) throw new TRPCError({ code: 'UNAUTHORIZED', message: 'who are you' });
  return next({ ctx: { user: ctx.user, role: 'admin' as const } });
});
const traced = authed.use(async ({ ctx, next, path, type, meta }) => {
  ctx.trail.push(`${type}:${path}:${JSON.stringify(meta ?? null)}`);
  const result = await next();
  ctx.trail.push(result.ok ? 'ok' : 'failed');
  return result;
});

const router = t.router({
  echo: traced
    .meta({ audit: true })
    .input(z.object({ text: z.string(), times: z.number().int().default(1) }))
    .output(z.object({ text: z.string(), user: z.string(), role: z.string() }))
    .query(({ input, ctx }) => ({
      text: input.text.repeat(input.times),
      user: ctx.user,
      role: ctx.role,
      dropped: 'by output parser',
    })),
  broken: traced
    .output(z.object({ n: z.number() }))
    .query(() => ({ n: 'not a number' }) as unknown as { n: number }),
  failing: authed.mutation(() => {
    throw new Error('resolver failed');
  }),
  signalled: authed.query(({ signal }) => signal?.aborted ?? 'no signal'),
  batch: authed
    .input(z.object({ raw: z.string() }).passthrough())
    // tRPC hands every resolver the raw input reader too, though its types do not say so.
    .mutation(async (opts) => ({
      input: opts.input,
      raw: await (opts as unknown as { getRawInput(): Promise<unknown> }).getRawInput(),
    })),
  // Two `.input()` calls: tRPC merges the parsed objects; a middleware in between sees the first.
  merged: traced
    .input(z.object({ a: z.string() }))
    .use(({ input, ctx, next }) => {
      ctx.trail.push(`first:${JSON.stringify(input)}`);
      return next();
    })
    .input(z.object({ b: z.number().default(7) }))
    .output(z.object({ a: z.string(), b: z.number() }))
    .query(({ input }) => input),
  asyncOutput: authed
    .output(z.object({ n: z.number() }).refine(async (v) => v.n > 0, 'n must be positive'))
    .query(({ ctx }) => ({ n: ctx.trail.length - 1 })),
  ticks: authed.subscription(async function* () {
    yield 1;
    yield 2;
  }),
  nested: t.router({ deep: t.procedure.query(({ ctx }) => ctx.trail.length) }),
});

/** Runs the same call through tRPC's own `callTRPCProcedure` and through ours. */
async function both(
  call: Omit<ProcedureCall, 'ctx' | 'signal' | 'batchIndex'> & {
    user?: string | null;
    signal?: AbortSignal;
  },
) {
  const run = async (impl: 'trpc' | 'ours') => {
    const ctx: Ctx = { user: call.user === undefined ? 'ada' : call.user, trail: [] };
    const input = call.input;
    const signal = call.signal;
    try {
      const value =
        impl === 'trpc'
          ? await callTRPCProcedure({
              router,
              path: call.path,
              type: call.type,
              ctx,
              signal,
              batchIndex: 0,
              getRawInput: async () => input,
            })
          : await callProcedure(router, {
              path: call.path,
              type: call.type,
              input,
              ctx,
              signal,
              batchIndex: 0,
            });
      return { ok: true as const, value, trail: ctx.trail };
    } catch (error) {
      const e = error as TRPCError;
      return {
        ok: false as const,
        error: {
          name: e.name,
          code: e.code,
          message: e.message,
          cause: e.cause?.constructor?.name,
          causeMessage: e.cause?.message,
        },
        trail: ctx.trail,
      };
    }
  };
  const trpc = await run('trpc');
  const ours = await run('ours');
  return { trpc, ours };
}

describe('callProcedure (the adapter fast path) behaves exactly like callTRPCProcedure', () => {
  it('runs middlewares, ctx extension, meta, input defaults and the output parser', async () => {
    const { trpc, ours } = await both({
      path: 'echo',
      type: 'query',
      input: { text: 'ab', times: 2 },
    });
    expect(ours).toEqual(trpc);
    expect(ours).toMatchObject({
      ok: true,
      value: { text: 'abab', user: 'ada', role: 'admin' },
      trail: ['query:echo:{"audit":true}', 'ok'],
    });
    expect((ours as { value: object }).value).not.toHaveProperty('dropped');
  });

  it('fails bad input with the same BAD_REQUEST and its zod cause', async () => {
    const { trpc, ours } = await both({ path: 'echo', type: 'query', input: { text: 3 } });
    expect(ours).toEqual(trpc);
    expect(ours).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST' } });
  });

  it('fails a middleware refusal, a throwing resolver and a bad output the same way', async () => {
    for (const call of [
      { path: 'echo', type: 'query' as const, input: { text: 'x' }, user: null },
      { path: 'failing', type: 'mutation' as const, input: undefined },
      { path: 'broken', type: 'query' as const, input: undefined },
    ]) {
      const { trpc, ours } = await both(call);
      expect(ours.ok).toBe(false);
      expect(ours).toEqual(trpc);
    }
  });

  it('answers unknown paths and wrong procedure types with tRPC’s own NOT_FOUND', async () => {
    for (const call of [
      { path: 'nope', type: 'query' as const, input: undefined },
      { path: 'echo', type: 'mutation' as const, input: { text: 'x' } },
      { path: 'nested', type: 'query' as const, input: undefined },
      { path: 'constructor', type: 'query' as const, input: undefined },
      { path: '__proto__', type: 'query' as const, input: undefined },
    ]) {
      const { trpc, ours } = await both(call);
      expect(ours).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
      expect(ours).toEqual(trpc);
    }
    const { ours } = await both({ path: 'nested.deep', type: 'query', input: undefined });
    expect(ours).toMatchObject({ ok: true, value: 0 });
  });

  it('passes the signal, the raw input and the parsed input through', async () => {
    const controller = new AbortController();
    controller.abort();
    const signalled = await both({
      path: 'signalled',
      type: 'query',
      input: undefined,
      signal: controller.signal,
    });
    expect(signalled.ours).toEqual(signalled.trpc);
    expect(signalled.ours).toMatchObject({ ok: true, value: true });
    const raw = await both({ path: 'batch', type: 'mutation', input: { raw: 'r', extra: 1 } });
    expect(raw.ours).toEqual(raw.trpc);
    expect(raw.ours).toMatchObject({
      ok: true,
      value: { input: { raw: 'r', extra: 1 }, raw: { raw: 'r', extra: 1 } },
    });
  });

  it('merges two .input() parsers and runs async output refinements the same way', async () => {
    for (const call of [
      { path: 'merged', type: 'query' as const, input: { a: 'x' } },
      { path: 'merged', type: 'query' as const, input: { a: 'x', b: 2 } },
      { path: 'merged', type: 'query' as const, input: { b: 2 } },
      { path: 'asyncOutput', type: 'query' as const, input: undefined },
    ]) {
      const { trpc, ours } = await both(call);
      expect(ours).toEqual(trpc);
    }
    const { ours } = await both({ path: 'merged', type: 'query', input: { a: 'x' } });
    expect(ours).toMatchObject({
      ok: true,
      value: { a: 'x', b: 7 },
      trail: ['query:merged:null', 'first:{"a":"x"}', 'ok'],
    });
  });

  it('returns a subscription’s stream unchanged', async () => {
    const ctx: Ctx = { user: 'ada', trail: [] };
    const stream = (await callProcedure(router, {
      path: 'ticks',
      type: 'subscription',
      input: undefined,
      ctx,
      signal: undefined,
      batchIndex: 0,
    })) as AsyncIterable<number>;
    const seen: number[] = [];
    for await (const n of stream) seen.push(n);
    expect(seen).toEqual([1, 2]);
  });
});
