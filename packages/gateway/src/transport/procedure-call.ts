import { isPromiseLike } from '@loopgate/protocol';
import {
  type AnyRouter,
  callTRPCProcedure,
  getTRPCErrorFromUnknown,
  TRPCError,
} from '@trpc/server';
import { getParseFn, isObject, middlewareMarker } from '@trpc/server/unstable-core-do-not-import';
import { withoutStack } from './stackless.js';

export type ProcedureType = 'query' | 'mutation' | 'subscription';

export type ProcedureCall = {
  path: string;
  type: ProcedureType;
  input: unknown;
  ctx: unknown;
  signal: AbortSignal | undefined;
  batchIndex: number;
};

type MiddlewareResult =
  | { ok: true; data: unknown; marker: string }
  | { ok: false; error: TRPCError; marker: string };

/** What one level of the chain passes on to the next. */
type ChainOptions = {
  ctx: unknown;
  type: ProcedureType;
  path: string;
  input: unknown;
  getRawInput: () => Promise<unknown>;
  signal: AbortSignal | undefined;
  batchIndex: number;
};

/** What a middleware is called with. */
type MiddlewareOptions = ChainOptions & {
  meta: unknown;
  next: (nextOpts?: {
    ctx?: object;
    input?: unknown;
    getRawInput?: () => Promise<unknown>;
  }) => Promise<MiddlewareResult>;
};

type Middleware = ((opts: MiddlewareOptions) => Promise<MiddlewareResult>) & { _type?: string };

type ProcedureDef = {
  type: ProcedureType;
  middlewares: Middleware[];
  meta: unknown;
  caller?: unknown;
  /** The parsers given to `.input()`, in order, and to `.output()`. */
  inputs?: unknown[];
  output?: unknown;
  /** The function given to `.query()` / `.mutation()` / `.subscription()`. */
  resolver?: (opts: ResolverOptions) => unknown;
};

type ResolverOptions = Omit<ChainOptions, 'input'> & { input: unknown; meta: unknown };

/**
 * What a middleware made by `gateMiddleware` does, split so the adapter can
 * run it without an async frame: all of its work before `next()`, and all
 * of it after a failed `next()`.
 */
export type Gate<Ctx> = {
  /** Throws to refuse the call. */
  check(ctx: Ctx, path: string): void;
  /** Rewrites a failed call's error in place. */
  onError(error: TRPCError): void;
};

const GATE = Symbol('loopgate.gate');

type GatedMiddleware = Middleware & { [GATE]?: Gate<unknown> };

/**
 * A tRPC middleware that is nothing but `gate`. tRPC (and `callTRPCProcedure`)
 * runs it as the async middleware returned here; `callProcedure` runs a
 * procedure made only of such middlewares, `.input()`, `.output()` and its
 * resolver as one plain function call (`DirectPlan`), with the same results
 * and errors.
 */
export function gateMiddleware<Ctx>(gate: Gate<Ctx>) {
  const middleware = async <R extends { ok: true } | { ok: false; error: TRPCError }>(opts: {
    ctx: Ctx;
    path: string;
    next: () => Promise<R>;
  }): Promise<R> => {
    gate.check(opts.ctx, opts.path);
    const result = await opts.next();
    if (!result.ok) gate.onError(result.error);
    return result;
  };
  return Object.assign(middleware, { [GATE]: gate as Gate<unknown> });
}

/** A procedure as `G* I* O? resolver`: its gates, input parsers, output parser and resolver. */
type DirectPlan = {
  gates: Gate<unknown>[];
  inputs: ParseFn[];
  output: ParseFn | undefined;
  resolver: (opts: ResolverOptions) => unknown;
  meta: unknown;
};

type ParseFn = (value: unknown) => unknown;

type FastPath = { def: ProcedureDef; direct: DirectPlan | undefined };

/** Per router: path → the procedure's definition, or null when tRPC's own call must handle it. */
const fastPaths = new WeakMap<AnyRouter, Map<string, FastPath | null>>();

function fastPathFor(router: AnyRouter, path: string): FastPath | null {
  let byPath = fastPaths.get(router);
  if (!byPath) {
    byPath = new Map();
    fastPaths.set(router, byPath);
  }
  let def = byPath.get(path);
  if (def === undefined) {
    const procedures = router._def.procedures as Record<
      string,
      { _def?: ProcedureDef } | undefined
    >;
    const candidate = Object.hasOwn(procedures, path) ? procedures[path]?._def : undefined;
    // Unknown paths (and lazy routers, experimental callers) keep tRPC's own
    // lookup and its exact errors; only the plain case is short-circuited.
    def =
      candidate && Array.isArray(candidate.middlewares) && !candidate.caller
        ? { def: withNativeValidators(candidate), direct: directPlanOf(candidate) }
        : null;
    if (byPath.size < 4096) byPath.set(path, def);
  }
  return def;
}

/**
 * The procedure as a `DirectPlan`, when its middlewares are gates, then its
 * `.input()` parsers, then its `.output()` parser, then the resolver's own
 * wrapper — the shape of every gateway procedure. Any other middleware, or
 * another order, keeps the chain.
 */
function directPlanOf(def: ProcedureDef): DirectPlan | undefined {
  const { middlewares, resolver } = def;
  const inputs = def.inputs ?? [];
  if (typeof resolver !== 'function') return undefined;
  const gates: Gate<unknown>[] = [];
  let i = 0;
  for (; i < middlewares.length && (middlewares[i] as GatedMiddleware)[GATE]; i++)
    gates.push((middlewares[i] as GatedMiddleware)[GATE]!);
  for (const _ of inputs) if (middlewares[i++]?._type !== 'input') return undefined;
  const hasOutput = def.output !== undefined;
  if (hasOutput && middlewares[i++]?._type !== 'output') return undefined;
  // what is left must be the resolver's wrapper alone
  if (i !== middlewares.length - 1 || middlewares[i]!._type !== undefined) return undefined;
  return {
    gates,
    inputs: inputs.map((parser) => getParseFn(parser as never)),
    output: hasOutput ? getParseFn(def.output as never) : undefined,
    resolver,
    meta: def.meta,
  };
}

/**
 * The procedure with tRPC's `.input()` and `.output()` middlewares replaced
 * by the same steps written natively. tRPC's copy the result (and merge
 * inputs) with the down-levelled `_objectSpread2`, a large share of a small
 * call's own time (bench/README.md); the parse functions are tRPC's (`getParseFn`
 * of the same parsers), the errors the same. A definition whose parsers do
 * not line up with its validator middlewares keeps tRPC's own.
 */
function withNativeValidators(def: ProcedureDef): ProcedureDef {
  const inputs = def.inputs ?? [];
  let nextInput = 0;
  const middlewares: Middleware[] = [];
  for (const middleware of def.middlewares) {
    if (middleware._type === 'input') {
      if (nextInput >= inputs.length) return def;
      middlewares.push(inputValidator(getParseFn(inputs[nextInput++] as never)));
    } else if (middleware._type === 'output') {
      if (def.output === undefined) return def;
      middlewares.push(outputValidator(getParseFn(def.output as never)));
    } else {
      middlewares.push(middleware);
    }
  }
  return nextInput === inputs.length ? { ...def, middlewares } : def;
}

/** tRPC 11's `createInputMiddleware`, with native spreads. */
function inputValidator(parse: (value: unknown) => unknown): Middleware {
  return async (opts) => {
    const rawInput = await opts.getRawInput();
    let parsed: unknown;
    try {
      parsed = await parse(rawInput);
    } catch (cause) {
      throw inputRefusal(cause);
    }
    return opts.next({ input: merged(opts.input, parsed) });
  };
}

/** tRPC 11's `createOutputMiddleware`, with a native spread. */
function outputValidator(parse: (value: unknown) => unknown): Middleware {
  return async ({ next }) => {
    const result = await next();
    if (!result.ok) return result;
    try {
      return { ...result, data: await parse(result.data) };
    } catch (cause) {
      throw outputRefusal(cause);
    }
  };
}

/**
 * Runs a procedure exactly as `callTRPCProcedure` does — same middleware
 * chain, same `next()` semantics (ctx merged, input and raw input passed
 * on), same result and error objects — without the down-levelled
 * `_objectSpread2` helper tRPC ships, which defines every key with
 * `Object.defineProperty` twice per middleware level (`callRecursive`
 * below) and again in its input/output validators (`withNativeValidators`).
 * A `health`-shaped call: ~9.5 µs through tRPC's chain, 1.3 µs here
 * (measured by the bench; see bench/README.md).
 */
export function callProcedure(router: AnyRouter, call: ProcedureCall): unknown {
  const fast = fastPathFor(router, call.path);
  const input = call.input;
  const getRawInput = async () => input;
  if (!fast || fast.def.type !== call.type) {
    return callTRPCProcedure({
      router,
      path: call.path,
      getRawInput,
      ctx: call.ctx,
      type: call.type,
      signal: call.signal,
      batchIndex: call.batchIndex,
    });
  }
  const opts: ChainOptions = {
    ctx: call.ctx,
    type: call.type,
    path: call.path,
    input: undefined,
    getRawInput,
    signal: call.signal,
    batchIndex: call.batchIndex,
  };
  return fast.direct ? runDirect(fast.direct, opts, input) : runChain(fast.def, opts);
}

/**
 * A `DirectPlan` run as the chain would run it: the gates' checks in order,
 * the input parsers (objects merged), the resolver, the output parser; a
 * failure becomes the `TRPCError` the chain would throw, passed back out
 * through the gates' `onError` from the innermost one that let it through.
 * Synchronous until something returns a promise: a procedure whose resolver
 * answers at once (a node's result, `health`) costs no promise at all here.
 */
function runDirect(plan: DirectPlan, opts: ChainOptions, rawInput: unknown): unknown {
  const { gates } = plan;
  let passed = 0;
  try {
    for (; passed < gates.length; passed++) gates[passed]!.check(opts.ctx, opts.path);
    const input = parsedInput(plan.inputs, rawInput);
    const resolved = (input: unknown) =>
      plan.resolver({
        ctx: opts.ctx,
        type: opts.type,
        path: opts.path,
        input,
        getRawInput: opts.getRawInput,
        signal: opts.signal,
        batchIndex: opts.batchIndex,
        meta: plan.meta,
      });
    const data = isPromiseLike(input) ? Promise.resolve(input).then(resolved) : resolved(input);
    const output = plan.output;
    if (!isPromiseLike(data)) return output ? parseOrRefuse(output, data, outputRefusal) : data;
    const settled = output
      ? Promise.resolve(data).then((d) => parseOrRefuse(output, d, outputRefusal))
      : data;
    return Promise.resolve(settled).then(undefined, (cause: unknown) => {
      throw gateFailure(gates, passed, cause);
    });
  } catch (cause) {
    throw gateFailure(gates, passed, cause);
  }
}

/** The input parsers' result, as `inputValidator` makes it; a promise only if a parser is async. */
function parsedInput(parsers: readonly ParseFn[], raw: unknown): unknown {
  let input: unknown;
  for (let i = 0; i < parsers.length; i++) {
    const parsed = parseOrRefuse(parsers[i]!, raw, inputRefusal);
    if (isPromiseLike(parsed)) {
      // an async parser: this one and the rest the slow way, in order
      const before = input;
      return Promise.resolve(parsed).then((p) =>
        mergeInputs(parsers, i + 1, raw, merged(before, p)),
      );
    }
    input = merged(input, parsed);
  }
  return input;
}

async function mergeInputs(
  parsers: readonly ParseFn[],
  from: number,
  raw: unknown,
  input: unknown,
): Promise<unknown> {
  let merging = input;
  for (let i = from; i < parsers.length; i++)
    merging = merged(merging, await parseOrRefuse(parsers[i]!, raw, inputRefusal));
  return merging;
}

function merged(input: unknown, parsed: unknown): unknown {
  return isObject(input) && isObject(parsed) ? { ...input, ...parsed } : parsed;
}

/** `parse(value)`, its failure (thrown or rejected) replaced by `refusal(cause)`; a promise only if `parse` is async. */
function parseOrRefuse(
  parse: ParseFn,
  value: unknown,
  refusal: (cause: unknown) => TRPCError,
): unknown {
  const refuse = (cause: unknown) => {
    throw refusal(cause);
  };
  try {
    const parsed = parse(value);
    return isPromiseLike(parsed) ? Promise.resolve(parsed).then(undefined, refuse) : parsed;
  } catch (cause) {
    return refuse(cause);
  }
}

/** What an `.input()` parser's failure becomes, on either path. */
function inputRefusal(cause: unknown): TRPCError {
  return withoutStack(() => new TRPCError({ code: 'BAD_REQUEST', cause }));
}

/** What an `.output()` parser's failure becomes, on either path. */
function outputRefusal(cause: unknown): TRPCError {
  return new TRPCError({
    message: 'Output validation failed',
    code: 'INTERNAL_SERVER_ERROR',
    cause,
  });
}

/** The error the chain throws for `cause`, seen on its way out by the gates it got through. */
function gateFailure(gates: readonly Gate<unknown>[], passed: number, cause: unknown): TRPCError {
  const error = getTRPCErrorFromUnknown(cause);
  for (let i = passed - 1; i >= 0; i--) gates[i]!.onError(error);
  return error;
}

async function runChain(def: ProcedureDef, opts: ChainOptions): Promise<unknown> {
  const result = await callRecursive(0, def, opts);
  if (!result) {
    throw new TRPCError({
      code: 'INTERNAL_SERVER_ERROR',
      message: 'No result from middlewares - did you forget to `return next()`?',
    });
  }
  if (!result.ok) throw result.error;
  return result.data;
}

/**
 * tRPC 11's `callRecursive`, with two changes that keep its behaviour:
 * - each level's options are one object literal with a fixed set of keys
 *   (the ones `callProcedure` starts with, plus `meta` and `next`) instead
 *   of spreads of the previous level's object — spreads of objects of
 *   varying shape went through V8's slow path and made this frame the
 *   biggest self time in the gateway after `writev`;
 * - no `async`: a rejected (or synchronously throwing) middleware becomes
 *   the same `{ ok: false }` result through one `.then`, not an async frame
 *   and an `await` per level.
 */
function callRecursive(
  index: number,
  def: ProcedureDef,
  opts: ChainOptions,
): Promise<MiddlewareResult> {
  try {
    const middleware = def.middlewares[index]!;
    // Promise.resolve: a middleware may return a plain result, as `await` allows.
    return Promise.resolve(
      middleware({
        ctx: opts.ctx,
        type: opts.type,
        path: opts.path,
        input: opts.input,
        getRawInput: opts.getRawInput,
        signal: opts.signal,
        batchIndex: opts.batchIndex,
        meta: def.meta,
        next(nextOpts) {
          return callRecursive(index + 1, def, {
            ctx: nextOpts?.ctx ? { ...(opts.ctx as object), ...nextOpts.ctx } : opts.ctx,
            type: opts.type,
            path: opts.path,
            input: nextOpts && 'input' in nextOpts ? nextOpts.input : opts.input,
            getRawInput: nextOpts?.getRawInput ?? opts.getRawInput,
            signal: opts.signal,
            batchIndex: opts.batchIndex,
          });
        },
      }),
    ).then(undefined, failed);
  } catch (cause) {
    return Promise.resolve(failed(cause));
  }
}

function failed(cause: unknown): MiddlewareResult {
  return { ok: false, error: getTRPCErrorFromUnknown(cause), marker: middlewareMarker };
}
