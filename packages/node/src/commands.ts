import {
  GatewayError,
  isPromiseLike,
  type NodeCommandError,
  type NodeResult,
} from '@loopgate/protocol';
import { type Cancellation, cancellationOf } from './cancellation.js';

/** What a command handler gets besides its params. */
export type CommandContext = {
  /** Fires when the gateway cancels the call, its deadline passes, or the node stops. */
  signal: AbortSignal;
  invocationId: string;
  command: string;
  /** Gateway clock, epoch ms. */
  deadline: number;
  /** Tells the caller how far along the command is (best effort, never throws). */
  progress(update: { message?: string; percent?: number }): void;
};

export type CommandHandler<P = unknown, R = unknown> = (
  params: P,
  context: CommandContext,
) => R | Promise<R>;

/**
 * A schema for params: anything with zod's `safeParse` shape works (a zod
 * schema is the usual choice). Failing input answers BAD_REQUEST naming the
 * field, and the handler is not called.
 */
export type ParamsSchema<P> = {
  safeParse(input: unknown):
    | { success: true; data: P }
    | {
        success: false;
        error: { issues: ReadonlyArray<{ path: ReadonlyArray<PropertyKey>; message: string }> };
      };
};

export type CommandDefinition<P = unknown, R = unknown> = {
  description?: string;
  params?: ParamsSchema<P>;
  run: CommandHandler<P, R>;
};

/** A plain handler, or a definition with a params schema. */
// biome-ignore lint/suspicious/noExplicitAny: handlers are contravariant in their params
export type NodeCommand = CommandHandler<any> | CommandDefinition<any>;
export type NodeCommands = Record<string, NodeCommand>;

/** Keeps the params type of `run` tied to its schema. */
export function defineCommand<P, R>(definition: CommandDefinition<P, R>): CommandDefinition<P, R> {
  return definition;
}

/**
 * Throw this from a handler for a typed error the caller can branch on.
 * Well-known codes (`BAD_REQUEST`, `NOT_FOUND`, `FORBIDDEN`,
 * `PAYLOAD_TOO_LARGE`, …) reach the caller as themselves; any other code
 * arrives as COMMAND_FAILED with `details.nodeCode`.
 */
export class CommandError extends Error {
  override readonly name = 'CommandError';
  readonly code: string;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: string, message: string, details?: Record<string, unknown>) {
    super(message);
    this.code = code;
    this.details = details;
  }
}

const ERROR_CODE = /^[A-Za-z0-9_.-]{1,64}$/;
const MAX_MESSAGE = 2_000;

/**
 * Whatever a handler threw, as the typed error that goes on the wire: its
 * code when it has a sensible one, its message (never its stack).
 */
export function toCommandError(error: unknown): NodeCommandError {
  if (error instanceof CommandError || error instanceof GatewayError) {
    return {
      code: ERROR_CODE.test(error.code) ? error.code : 'COMMAND_FAILED',
      message: truncate(error.message),
      ...(error.details ? { details: error.details } : {}),
    };
  }
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return {
      code: typeof code === 'string' && ERROR_CODE.test(code) ? code : 'COMMAND_FAILED',
      message: truncate(error.message || 'the command failed'),
    };
  }
  return {
    code: 'COMMAND_FAILED',
    message: truncate(typeof error === 'string' ? error : 'the command failed'),
  };
}

function truncate(message: string): string {
  return message.length > MAX_MESSAGE ? `${message.slice(0, MAX_MESSAGE - 1)}…` : message;
}

/**
 * Runs one invocation against the node's commands and returns the result to
 * post, or `undefined` when the call was cancelled (the gateway no longer
 * waits for it). Never throws.
 */
export async function runCommand(
  commands: NodeCommands,
  invocation: { invocationId: string; command: string; params: unknown },
  context: CommandContext,
  limits: { maxResultBytes: number },
  cancel: Pick<Cancellation, 'aborted' | 'race'> = cancellationOf(context.signal),
): Promise<NodeResult | undefined> {
  const { invocationId, command } = invocation;
  const entry = Object.hasOwn(commands, command) ? commands[command] : undefined;
  if (!entry)
    return failed(invocationId, {
      code: 'COMMAND_NOT_ALLOWED',
      message: `this node does not offer "${command}"`,
    });
  const run: CommandHandler = typeof entry === 'function' ? entry : entry.run;
  const schema = typeof entry === 'function' ? undefined : entry.params;

  let params = invocation.params;
  if (schema) {
    const parsed = schema.safeParse(params);
    if (!parsed.success) {
      const issues = parsed.error.issues.map(
        (i) => `${i.path.map(String).join('.') || '(params)'}: ${i.message}`,
      );
      return failed(invocationId, {
        code: 'BAD_REQUEST',
        message: `invalid params: ${issues.join('; ')}`,
        details: { issues },
      });
    }
    params = parsed.data;
  }

  let payload: unknown;
  try {
    // A command that ignores its signal (a read stuck in the kernel) is let go at
    // cancel or deadline: its invocation ends now, whatever the command does.
    const work = run(params, context);
    // A handler that answered synchronously ran to its end: there is nothing left to race.
    payload = isPromiseLike(work) ? await cancel.race(work) : work;
  } catch (error) {
    if (cancel.aborted) return undefined;
    return failed(invocationId, toCommandError(error));
  }
  if (cancel.aborted) return undefined;

  let size: number;
  try {
    size = payload === undefined ? 0 : Buffer.byteLength(JSON.stringify(payload) ?? '', 'utf8');
  } catch {
    return failed(invocationId, {
      code: 'INVALID_RESULT',
      message: `"${command}" returned a value that is not plain JSON`,
    });
  }
  if (size > limits.maxResultBytes) {
    return failed(invocationId, {
      code: 'PAYLOAD_TOO_LARGE',
      message: `"${command}" returned ${size} bytes, over the gateway's limit of ${limits.maxResultBytes}`,
      details: { bytes: size, limit: limits.maxResultBytes },
    });
  }
  return { invocationId, ok: true, payload };
}

function failed(invocationId: string, error: NodeCommandError): NodeResult {
  return { invocationId, ok: false, error };
}
