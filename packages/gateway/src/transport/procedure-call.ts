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
};

/** Per router: path → the procedure's definition, or null when tRPC's own call must handle it. */
const fastPaths = new WeakMap<AnyRouter, Map<string, ProcedureDef | null>>();

function fastPathFor(router: AnyRouter, path: string): ProcedureDef | null {
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
        ? withNativeValidators(candidate)
        : null;
    if (byPath.size < 4096) byPath.set(path, def);
  }
  return def;
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
      throw withoutStack(() => new TRPCError({ code: 'BAD_REQUEST', cause }));
    }
    const input = isObject(opts.input) && isObject(parsed) ? { ...opts.input, ...parsed } : parsed;
    return opts.next({ input });
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
      throw new TRPCError({
        message: 'Output validation failed',
        code: 'INTERNAL_SERVER_ERROR',
        cause,
      });
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
export function callProcedure(router: AnyRouter, call: ProcedureCall): Promise<unknown> {
  const def = fastPathFor(router, call.path);
  const input = call.input;
  const getRawInput = async () => input;
  if (!def || def.type !== call.type) {
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
  return runChain(def, {
    ctx: call.ctx,
    type: call.type,
    path: call.path,
    input: undefined,
    getRawInput,
    signal: call.signal,
    batchIndex: call.batchIndex,
  });
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
