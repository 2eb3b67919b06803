import { callTRPCProcedure, initTRPC, TRPCError } from '@trpc/server';
import { describe, expect, it } from 'vitest';
import * as z from 'zod';
import {
  callProcedure,
  gateMiddleware,
  type ProcedureCall,
} from '../src/transport/procedure-call.js';

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

/** A gate like the gateway's `authorize`: refuses by ctx, rewrites a tagged failure's code. */
let gateRuns = 0;
const gate = gateMiddleware<Ctx>({
  check(ctx, path) {
    ctx.trail.push(`check:${path}`);
    if (ctx.user === 'mallory') throw new TRPCError({ code: 'FORBIDDEN', message: 'not you' });
  },
  onError(error) {
    if (error.message.startsWith('conflict:')) Object.assign(error, { code: 'CONFLICT' });
  },
});
const gated = t.procedure.use(
  t.middleware((opts) => {
    gateRuns++;
    return gate(opts);
  }),
);
const twice = t.procedure.use(t.middleware(gate)).use(
  t.middleware(
    gateMiddleware<Ctx>({
      check(ctx) {
        ctx.trail.push('inner');
        if (ctx.user === 'eve') throw new Error('conflict: inner gate');
      },
      onError(error) {
        error.message = `${error.message} (seen by inner)`;
      },
    }),
  ),
);
const gatedOnly = t.procedure.use(t.middleware(gate));

const router = t.router({
  gatedSync: gatedOnly
    .input(z.object({ n: z.number() }))
    .output(z.object({ twice: z.number() }))
    .mutation(({ input, ctx }) => {
      if (input.n < 0) throw new Error('conflict: negative');
      ctx.trail.push('resolved');
      return { twice: input.n * 2, extra: 'dropped' };
    }),
  gatedAsync: gatedOnly
    .input(z.object({ a: z.string() }))
    .input(z.object({ b: z.number().default(1) }))
    .output(z.object({ a: z.string(), b: z.number() }))
    .query(async ({ input }) => {
      await new Promise((resolve) => setTimeout(resolve, 1));
      if (input.a === 'fail') throw new Error('conflict: async');
      return input.a === 'bad' ? ({ a: 1 } as unknown as typeof input) : input;
    }),
  gatedRefined: gatedOnly
    .input(z.object({ n: z.number() }).refine(async (v) => v.n !== 13, 'unlucky'))
    .output(z.number().refine(async (n) => n < 100, 'too big'))
    .query(({ input }) => input.n * 10),
  gatedSignal: gatedOnly.query(({ signal, path }) => `${path}:${signal?.aborted}`),
  gatedTicks: gatedOnly.subscription(async function* () {
    yield 'a';
  }),
  gatedSpied: gated.query(() => 'spied'),
  twoGates: twice.input(z.string()).mutation(({ input }) => {
    if (input === 'boom') throw new Error('conflict: resolver');
    return input;
  }),
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

  it('runs gate-only procedures directly, with the chain’s results, errors and trail', async () => {
    const calls = [
      { path: 'gatedSync', type: 'mutation' as const, input: { n: 2 } },
      { path: 'gatedSync', type: 'mutation' as const, input: { n: -1 } },
      { path: 'gatedSync', type: 'mutation' as const, input: { n: 'x' } },
      { path: 'gatedSync', type: 'mutation' as const, input: { n: 2 }, user: 'mallory' },
      { path: 'gatedSync', type: 'query' as const, input: { n: 2 } },
      { path: 'gatedAsync', type: 'query' as const, input: { a: 'x' } },
      { path: 'gatedAsync', type: 'query' as const, input: { a: 'x', b: 5 } },
      { path: 'gatedAsync', type: 'query' as const, input: { a: 'fail' } },
      { path: 'gatedAsync', type: 'query' as const, input: { a: 'bad' } },
      { path: 'gatedAsync', type: 'query' as const, input: { b: 5 } },
      { path: 'gatedRefined', type: 'query' as const, input: { n: 2 } },
      { path: 'gatedRefined', type: 'query' as const, input: { n: 13 } },
      { path: 'gatedRefined', type: 'query' as const, input: { n: 20 } },
      { path: 'gatedSignal', type: 'query' as const, input: undefined },
      { path: 'twoGates', type: 'mutation' as const, input: 'ok' },
      { path: 'twoGates', type: 'mutation' as const, input: 'boom' },
      { path: 'twoGates', type: 'mutation' as const, input: 'ok', user: 'eve' },
      { path: 'twoGates', type: 'mutation' as const, input: 'ok', user: 'mallory' },
    ];
    const codes: string[] = [];
    for (const call of calls) {
      const { trpc, ours } = await both(call);
      expect(ours, `${call.path} ${JSON.stringify(call.input)}`).toEqual(trpc);
      codes.push(ours.ok ? 'ok' : ours.error.code);
    }
    // every branch above was really taken, on both paths
    expect(codes).toEqual([
      'ok',
      'CONFLICT',
      'BAD_REQUEST',
      'FORBIDDEN',
      'NOT_FOUND',
      'ok',
      'ok',
      'CONFLICT',
      'INTERNAL_SERVER_ERROR',
      'BAD_REQUEST',
      'ok',
      'BAD_REQUEST',
      'INTERNAL_SERVER_ERROR',
      'ok',
      'ok',
      'CONFLICT',
      'CONFLICT',
      'FORBIDDEN',
    ]);
    const { ours } = await both({ path: 'twoGates', type: 'mutation', input: 'boom' });
    expect(ours).toMatchObject({
      ok: false,
      error: { message: 'conflict: resolver (seen by inner)' },
      trail: ['check:twoGates', 'inner'],
    });
  });

  it('answers a gated procedure whose resolver returns at once without a promise', () => {
    const ctx: Ctx = { user: 'ada', trail: [] };
    const call = { ctx, signal: undefined, batchIndex: 0 };
    const value = callProcedure(router, {
      ...call,
      path: 'gatedSync',
      type: 'mutation',
      input: { n: 21 },
    });
    expect(value).toEqual({ twice: 42 });
    expect(ctx.trail).toEqual(['check:gatedSync', 'resolved']);
    // a refusal is thrown where the call is made, as `await` would surface it
    expect(() =>
      callProcedure(router, {
        ...call,
        ctx: { user: 'mallory', trail: [] },
        path: 'gatedSync',
        type: 'mutation',
        input: { n: 1 },
      }),
    ).toThrow(TRPCError);
  });

  it('runs the gate, not the async middleware around it, when the procedure is all gates', async () => {
    gateRuns = 0;
    const ctx: Ctx = { user: 'ada', trail: [] };
    const call = {
      ctx,
      signal: undefined,
      batchIndex: 0,
      type: 'query' as const,
      input: undefined,
    };
    expect(await callProcedure(router, { ...call, path: 'gatedSpied' })).toBe('spied');
    // `gated` wraps the gate in a plain middleware: no direct plan, so the chain ran it
    expect(gateRuns).toBe(1);
    expect(await callProcedure(router, { ...call, path: 'gatedSignal' })).toBe(
      'gatedSignal:undefined',
    );
    expect(gateRuns).toBe(1);
    expect(ctx.trail).toEqual(['check:gatedSpied', 'check:gatedSignal']);
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
    const gatedStream = (await callProcedure(router, {
      path: 'gatedTicks',
      type: 'subscription',
      input: undefined,
      ctx,
      signal: undefined,
      batchIndex: 0,
    })) as AsyncIterable<string>;
    const letters: string[] = [];
    for await (const letter of gatedStream) letters.push(letter);
    expect(letters).toEqual(['a']);
    expect(ctx.trail).toEqual(['check:gatedTicks']);
  });
});
