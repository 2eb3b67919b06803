import { GatewayError } from '@loopgate/protocol';
import { describe, expect, it } from 'vitest';
import * as z from 'zod';
import {
  type CommandContext,
  CommandError,
  defineCommand,
  runCommand,
  toCommandError,
} from '../src/commands.js';

function context(signal = new AbortController().signal): CommandContext {
  return {
    signal,
    invocationId: 'inv_1',
    command: 'x',
    deadline: Date.now() + 1_000,
    progress: () => {},
  };
}
const limits = { maxResultBytes: 1_024 };
const invocation = (command: string, params?: unknown) => ({
  invocationId: 'inv_1',
  command,
  params,
});

describe('runCommand', () => {
  it('answers with the handler payload', async () => {
    const result = await runCommand(
      { 'a.b': (p: { n: number }) => p.n * 2 },
      invocation('a.b', { n: 21 }),
      context(),
      limits,
    );
    expect(result).toEqual({ invocationId: 'inv_1', ok: true, payload: 42 });
  });

  it('answers COMMAND_NOT_ALLOWED for a command the node does not have (including inherited names)', async () => {
    for (const name of ['nope', 'toString', '__proto__']) {
      const result = await runCommand({}, invocation(name), context(), limits);
      expect(result).toMatchObject({ ok: false, error: { code: 'COMMAND_NOT_ALLOWED' } });
    }
  });

  it('validates params with the schema and does not call the handler on bad input', async () => {
    let called = false;
    const commands = {
      greet: defineCommand({
        params: z.object({ who: z.string() }),
        run: (p) => {
          called = true;
          return `hi ${p.who}`;
        },
      }),
    };
    const bad = await runCommand(commands, invocation('greet', { who: 3 }), context(), limits);
    expect(bad).toMatchObject({
      ok: false,
      error: { code: 'BAD_REQUEST', message: expect.stringContaining('who') },
    });
    expect(called).toBe(false);
    expect(
      await runCommand(commands, invocation('greet', { who: 'ann' }), context(), limits),
    ).toMatchObject({
      ok: true,
      payload: 'hi ann',
    });
  });

  it('turns a throwing handler into a typed error without a stack', async () => {
    const result = await runCommand(
      {
        boom: () => {
          throw new Error('disk on fire');
        },
      },
      invocation('boom'),
      context(),
      limits,
    );
    expect(result).toEqual({
      invocationId: 'inv_1',
      ok: false,
      error: { code: 'COMMAND_FAILED', message: 'disk on fire' },
    });
    expect(JSON.stringify(result)).not.toContain('at ');
  });

  it('keeps the code of a CommandError and of errno-style errors', async () => {
    expect(toCommandError(new CommandError('NOT_FOUND', 'gone', { path: 'x' }))).toEqual({
      code: 'NOT_FOUND',
      message: 'gone',
      details: { path: 'x' },
    });
    expect(toCommandError(Object.assign(new Error('nope'), { code: 'ENOENT' }))).toMatchObject({
      code: 'ENOENT',
    });
    expect(toCommandError(new GatewayError('TIMEOUT', 'slow'))).toMatchObject({ code: 'TIMEOUT' });
    expect(toCommandError('weird')).toEqual({ code: 'COMMAND_FAILED', message: 'weird' });
  });

  it('answers nothing once cancelled (the gateway stopped waiting)', async () => {
    const controller = new AbortController();
    const pending = runCommand(
      {
        slow: (_p: unknown, { signal }: CommandContext) =>
          new Promise((_resolve, reject) =>
            signal.addEventListener('abort', () => reject(new Error('aborted'))),
          ),
      },
      invocation('slow'),
      context(controller.signal),
      limits,
    );
    controller.abort();
    await expect(pending).resolves.toBeUndefined();
  });

  it('row 32: a wedged command that ignores its signal still ends its invocation at cancel or deadline', {
    timeout: 3_000,
  }, async () => {
    const controller = new AbortController();
    const pending = runCommand(
      {
        // Never settles; the timer only keeps the test's event loop alive, as a stuck read would.
        wedged: () =>
          new Promise(() => {
            setTimeout(() => {}, 6_000);
          }),
      },
      invocation('wedged'),
      context(controller.signal),
      limits,
    );
    setTimeout(() => controller.abort(new Error('deadline')), 20);
    await expect(pending).resolves.toBeUndefined();
  });

  it('refuses payloads over the gateway limit and values that are not JSON', async () => {
    const big = await runCommand(
      { big: () => 'x'.repeat(2_000) },
      invocation('big'),
      context(),
      limits,
    );
    expect(big).toMatchObject({ ok: false, error: { code: 'PAYLOAD_TOO_LARGE' } });
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    const bad = await runCommand({ bad: () => cyclic }, invocation('bad'), context(), limits);
    expect(bad).toMatchObject({ ok: false, error: { code: 'INVALID_RESULT' } });
  });
});
