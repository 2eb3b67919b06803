import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type AgentRunEvent, type GatewayEventInput, LoopgateConfig } from '@loopgate/protocol';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type AgentProvider, AgentRuntime, type ProviderTurn } from '../../src/agent/index.js';
import { SessionStore } from '../../src/sessions/index.js';
import { FakeInvoker } from './fake-invoker.js';

/** A provider a test drives by hand: each turn waits until released, honouring the abort signal. */
class HeldProvider implements AgentProvider {
  readonly name = 'held';
  readonly turns: ProviderTurn[] = [];
  #release: Array<(text: string) => void> = [];
  #arrived: Array<() => void> = [];

  async runTurn(turn: ProviderTurn): Promise<{ text: string }> {
    this.turns.push(turn);
    for (const wake of this.#arrived.splice(0)) wake();
    turn.onTextDelta(1, 'thinking…');
    const text = await new Promise<string>((resolve, reject) => {
      this.#release.push(resolve);
      turn.signal.addEventListener('abort', () => reject(turn.signal.reason), { once: true });
    });
    turn.onAssistantMessage(1, text);
    return { text };
  }

  async waitForTurns(n: number): Promise<void> {
    while (this.turns.length < n) await new Promise<void>((resolve) => this.#arrived.push(resolve));
  }

  release(text: string): void {
    this.#release.shift()?.(text);
  }
}

async function collect(it: AsyncGenerator<[string, AgentRunEvent]>): Promise<AgentRunEvent[]> {
  const out: AgentRunEvent[] = [];
  for await (const [, event] of it) out.push(event);
  return out;
}

describe('AgentRuntime', () => {
  let dir: string;
  let sessions: SessionStore;
  let bus: GatewayEventInput[];
  const log = pino({ level: 'silent' });
  const config = LoopgateConfig.parse({ agent: { maxQueuedPerSession: 2 } });

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'loopgate-agent-'));
    bus = [];
    sessions = new SessionStore({ stateDir: dir, events: { emit: (e) => bus.push(e) }, log });
    await sessions.open();
  });
  afterEach(async () => {
    await sessions.close();
    await rm(dir, { recursive: true, force: true });
  });

  const runtime = (provider?: AgentProvider, invoker = new FakeInvoker()) =>
    new AgentRuntime({
      config,
      sessions,
      tools: invoker,
      events: { emit: (e) => bus.push(e) },
      log,
      ...(provider ? { provider } : {}),
    });

  it('runs a local /invoke turn end to end: events, result, and a durable transcript', async () => {
    const invoker = new FakeInvoker().addNode({
      nodeId: 'nd_1',
      name: 'box',
      commands: { echo: (p) => ({ echoed: p }) },
    });
    const agent = runtime(undefined, invoker);
    const started = await agent.start({
      message: '/invoke box echo {"n":1}',
      idempotencyKey: 'k1',
      source: { channel: 'webchat' },
    });
    expect(started).toMatchObject({ state: 'running', deduplicated: false });
    const result = await agent.wait(started.runId, 5_000);
    expect(result).toMatchObject({
      state: 'completed',
      toolCalls: 1,
      text: 'box · echo → ok\n{\n  "echoed": {\n    "n": 1\n  }\n}',
    });

    const events = await collect(
      agent.hub.subscribe({ runId: started.runId, signal: new AbortController().signal }),
    );
    expect(events.map((e) => (e.type === 'run.state' ? `state:${e.state}` : e.type))).toEqual([
      'state:queued',
      'state:running',
      'tool.started',
      'tool.finished',
      'assistant.delta',
      'state:completed',
    ]);

    const history = await sessions.history(started.sessionId, { limit: 100 });
    expect(history.entries.map((e) => e.kind)).toEqual([
      'user',
      'tool_call',
      'tool_result',
      'assistant',
      'turn_end',
    ]);
    expect(history.entries[2]).toMatchObject({
      kind: 'tool_result',
      ok: true,
      result: { echoed: { n: 1 } },
    });
    expect(
      bus.filter((e) => e.type === 'agent.run').map((e) => (e as { state: string }).state),
    ).toEqual(['queued', 'running', 'completed']);
    expect(bus.some((e) => e.type === 'session.created')).toBe(true);
  });

  it('queues a second run in the same session (visible as queued) and runs it after the first', async () => {
    const provider = new HeldProvider();
    const agent = runtime(provider);
    const first = await agent.start({
      sessionId: 'work',
      message: 'one',
      source: { channel: 'webchat' },
    });
    const second = await agent.start({
      sessionId: 'work',
      message: 'two',
      source: { channel: 'webchat' },
    });
    const other = await agent.start({
      sessionId: 'elsewhere',
      message: 'three',
      source: { channel: 'webchat' },
    });
    expect([first.state, second.state, other.state]).toEqual(['running', 'queued', 'running']);
    expect(agent.get(second.runId).state).toBe('queued');
    expect(agent.sessionInfo(sessions.get('work')!)).toMatchObject({
      activeRunId: first.runId,
      queuedRuns: 1,
    });
    expect(agent.statusSummary()).toEqual({ total: 2, activeRuns: 2 });

    await provider.waitForTurns(2);
    provider.release('answer one');
    await agent.wait(first.runId, 5_000);
    await provider.waitForTurns(3);
    expect(agent.get(second.runId).state).toBe('running');
    // the second turn sees the first one as history
    expect(provider.turns[2]!.history.map((e) => e.kind)).toEqual([
      'user',
      'assistant',
      'turn_end',
    ]);
    provider.release('answer elsewhere');
    provider.release('answer two');
    expect((await agent.wait(second.runId, 5_000)).text).toBe('answer two');
  });

  it('refuses a run beyond the per-session queue limit', async () => {
    const provider = new HeldProvider();
    const agent = runtime(provider);
    await agent.start({ sessionId: 'q', message: '1', source: { channel: 'webchat' } });
    await agent.start({ sessionId: 'q', message: '2', source: { channel: 'webchat' } });
    await agent.start({ sessionId: 'q', message: '3', source: { channel: 'webchat' } });
    await expect(
      agent.start({ sessionId: 'q', message: '4', source: { channel: 'webchat' } }),
    ).rejects.toMatchObject({ code: 'LIMIT_EXCEEDED' });
    await agent.close();
  });

  it('cancels a queued run without starting it, and a running one promptly', async () => {
    const provider = new HeldProvider();
    const agent = runtime(provider);
    const running = await agent.start({
      sessionId: 'c',
      message: 'long',
      source: { channel: 'webchat' },
    });
    const queued = await agent.start({
      sessionId: 'c',
      message: 'later',
      source: { channel: 'webchat' },
    });
    expect(await agent.cancel(queued.runId)).toMatchObject({
      state: 'cancelled',
      error: { code: 'CANCELLED' },
    });
    await provider.waitForTurns(1);
    const cancelled = await agent.cancel(running.runId);
    expect(cancelled).toMatchObject({
      state: 'cancelled',
      error: { code: 'CANCELLED', message: 'cancelled by an operator' },
    });
    expect(provider.turns).toHaveLength(1);
    const history = await sessions.history('c', { limit: 10 });
    expect(history.entries.at(-1)).toMatchObject({ kind: 'turn_end', state: 'cancelled' });
    // cancelling a finished run just reports it
    expect((await agent.cancel(running.runId)).state).toBe('cancelled');
    expect(agent.statusSummary().activeRuns).toBe(0);
  });

  it('agent.wait times out with TIMEOUT while the run keeps going', async () => {
    const provider = new HeldProvider();
    const agent = runtime(provider);
    const run = await agent.start({ message: 'slow', source: { channel: 'webchat' } });
    await expect(agent.wait(run.runId, 10)).rejects.toMatchObject({
      code: 'TIMEOUT',
      details: { state: 'running' },
    });
    await provider.waitForTurns(1);
    provider.release('done at last');
    expect(await agent.wait(run.runId, 5_000)).toMatchObject({
      state: 'completed',
      text: 'done at last',
    });
  });

  it('an idempotency key returns the first run instead of starting another', async () => {
    const provider = new HeldProvider();
    const agent = runtime(provider);
    const a = await agent.start({
      message: 'hi',
      idempotencyKey: 'same',
      source: { channel: 'webchat' },
    });
    const b = await agent.start({
      message: 'hi',
      idempotencyKey: 'same',
      source: { channel: 'webchat' },
    });
    expect(b).toEqual({ ...a, deduplicated: true });
    await expect(
      agent.start({ message: 'other', idempotencyKey: 'same', source: { channel: 'webchat' } }),
    ).rejects.toMatchObject({ code: 'CONFLICT' });
    await provider.waitForTurns(1);
    expect(provider.turns).toHaveLength(1);
    expect(sessions.size).toBe(1);
    provider.release('ok');
  });

  it('reports provider failures on the run, and refuses to reset a busy session', async () => {
    const failing: AgentProvider = {
      name: 'failing',
      runTurn: async () => {
        throw new Error('secret internals /home/x/y.ts');
      },
    };
    const agent = runtime(failing);
    const run = await agent.start({ sessionId: 'f', message: 'x', source: { channel: 'webchat' } });
    const result = await agent.wait(run.runId, 5_000);
    expect(result).toMatchObject({
      state: 'failed',
      error: { code: 'INTERNAL', message: 'the run failed unexpectedly (see the gateway log)' },
    });

    const held = new HeldProvider();
    const busy = runtime(held);
    await busy.start({ sessionId: 'f', message: 'y', source: { channel: 'webchat' } });
    await expect(busy.resetSession('f')).rejects.toMatchObject({ code: 'CONFLICT' });
    await busy.close();
    expect(await busy.resetSession('f')).toBeGreaterThan(0);
  });

  it('close() cancels what is in flight and records it', async () => {
    const provider = new HeldProvider();
    const agent = runtime(provider);
    const run = await agent.start({ sessionId: 'z', message: 'x', source: { channel: 'webchat' } });
    await provider.waitForTurns(1);
    await agent.close();
    expect(agent.get(run.runId)).toMatchObject({
      state: 'cancelled',
      error: { message: 'the gateway is shutting down' },
    });
    await expect(
      agent.start({ message: 'y', source: { channel: 'webchat' } }),
    ).rejects.toMatchObject({ code: 'UNAVAILABLE' });
  });

  it('unknown runs are NOT_FOUND', async () => {
    const agent = runtime();
    expect(() => agent.get('run-nope')).toThrow(/no run run-nope/);
    await expect(agent.wait('run-nope', 1)).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });
});
