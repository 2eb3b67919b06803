import { describe, expect, it } from 'vitest';
import {
  AgentToolbox,
  buildToolCatalog,
  LocalProvider,
  parseDirective,
  toolNameFor,
} from '../../src/agent/index.js';
import type { ProviderTurn } from '../../src/agent/provider.js';
import type { ToolCallRequest, ToolOutcome } from '../../src/agent/tools.js';
import { FakeInvoker } from './fake-invoker.js';

function recordingToolbox(invoker: FakeInvoker, signal = new AbortController().signal) {
  const log: Array<{
    phase: 'started' | 'finished';
    call: ToolCallRequest;
    outcome?: ToolOutcome;
  }> = [];
  const toolbox = new AgentToolbox({
    invoker,
    runId: 'run-1',
    signal,
    observer: {
      started: (call) => log.push({ phase: 'started', call }),
      finished: (call, outcome) => log.push({ phase: 'finished', call, outcome }),
    },
  });
  return { toolbox, log };
}

function turnFor(
  message: string,
  toolbox: AgentToolbox,
): ProviderTurn & { deltas: string[]; messages: string[] } {
  const deltas: string[] = [];
  const messages: string[] = [];
  return {
    runId: 'run-1',
    sessionId: 's-1',
    message,
    history: [],
    toolbox,
    signal: new AbortController().signal,
    onTextDelta: (_round, text) => deltas.push(text),
    onAssistantMessage: (_round, text) => messages.push(text),
    deltas,
    messages,
  };
}

describe('tool names and catalog', () => {
  it('makes API-safe, readable names', () => {
    expect(toolNameFor('kitchen-pi', 'system.run')).toBe('kitchen-pi__system_run');
    expect(toolNameFor('pi.kitchen', 'fs.read')).toBe('pi_kitchen__fs_read');
    expect(toolNameFor('x'.repeat(80), 'y'.repeat(80))).toMatch(/^[A-Za-z0-9_-]{1,64}$/);
  });

  it('offers only online nodes, keeps names unique, and uses a permissive schema when none is declared', () => {
    const catalog = buildToolCatalog([
      { nodeId: 'nd_1', name: 'pi.kitchen', online: true, commands: [{ name: 'fs.read' }] },
      {
        nodeId: 'nd_2',
        name: 'pi_kitchen',
        online: true,
        commands: [
          {
            name: 'fs.read',
            paramsSchema: { type: 'object', properties: { path: { type: 'string' } } },
          },
        ],
      },
      { nodeId: 'nd_3', name: 'laptop', online: false, commands: [{ name: 'camera.snap' }] },
    ]);
    expect(catalog.map((t) => t.name)).toEqual(['pi_kitchen__fs_read', 'pi_kitchen__fs_read_2']);
    expect(catalog[0]!.parameters).toEqual({ type: 'object' });
    expect(catalog[1]!.parameters).toEqual({
      type: 'object',
      properties: { path: { type: 'string' } },
    });
    expect(new Set(catalog.map((t) => `${t.nodeId}/${t.command}`)).size).toBe(2);
    expect(catalog[0]!.description).toContain('fs.read');
  });
});

describe('AgentToolbox', () => {
  it('records unknown tools and bad JSON arguments without reaching a node', async () => {
    const invoker = new FakeInvoker().addNode({
      nodeId: 'nd_1',
      name: 'box',
      commands: { echo: (p) => p },
    });
    const { toolbox, log } = recordingToolbox(invoker);
    const unknown = await toolbox.callByName('nope__x', '{}', 'c1', 1);
    const badJson = await toolbox.callByName('box__echo', '{"a":', 'c2', 1);
    expect(unknown).toEqual({
      ok: false,
      error: { code: 'NOT_FOUND', message: 'there is no tool named nope__x' },
    });
    expect(badJson.ok).toBe(false);
    expect(!badJson.ok && badJson.error.code).toBe('BAD_REQUEST');
    expect(invoker.calls).toHaveLength(0);
    expect(log.map((l) => l.phase)).toEqual(['started', 'finished', 'started', 'finished']);
    expect(toolbox.callCount).toBe(2);
  });

  it('passes an idempotency key per call and the run signal to the node', async () => {
    const invoker = new FakeInvoker().addNode({
      nodeId: 'nd_1',
      name: 'box',
      commands: { echo: (p) => p },
    });
    const { toolbox } = recordingToolbox(invoker);
    const outcome = await toolbox.callByName('box__echo', '{"x":1}', 'call_9', 2);
    expect(outcome).toEqual({ ok: true, result: { x: 1 } });
    expect(invoker.calls[0]).toMatchObject({
      nodeId: 'nd_1',
      command: 'echo',
      params: { x: 1 },
      idempotencyKey: 'run-1:call_9',
    });
    expect(invoker.calls[0]!.signal).toBeInstanceOf(AbortSignal);
  });

  it('reports node errors with their gateway code', async () => {
    const invoker = new FakeInvoker().addNode({
      nodeId: 'nd_1',
      name: 'box',
      online: false,
      commands: { echo: (p) => p },
    });
    const { toolbox } = recordingToolbox(invoker);
    const outcome = await toolbox.call({
      callId: 'c',
      round: 1,
      tool: 'box__echo',
      nodeId: 'nd_1',
      command: 'echo',
      params: {},
    });
    expect(outcome).toEqual({
      ok: false,
      error: { code: 'NOT_CONNECTED', message: 'node "box" is offline' },
    });
  });
});

describe('parseDirective', () => {
  it.each([
    ['hello there', { kind: 'text' }],
    ['/help', { kind: 'help' }],
    ['/start', { kind: 'help' }],
    ['/nodes@loopgate_bot', { kind: 'nodes' }],
    ['/invoke box echo', { kind: 'invoke', node: 'box', command: 'echo', params: {} }],
    [
      '/invoke box echo {"text": "hi there"}',
      { kind: 'invoke', node: 'box', command: 'echo', params: { text: 'hi there' } },
    ],
    [
      '  /invoke@bot nd_1 system.run ["a", 1]  ',
      { kind: 'invoke', node: 'nd_1', command: 'system.run', params: ['a', 1] },
    ],
    ['/frobnicate now', { kind: 'unknown', name: '/frobnicate' }],
  ])('%s', (text, expected) => {
    expect(parseDirective(text)).toEqual(expected);
  });

  it('its examples use the parameters the node really takes (system.run: command, not argv)', () => {
    const usage = parseDirective('/invoke box');
    const example = /e\.g\. \/invoke \S+ system\.run (\{.*\})/.exec(
      usage.kind === 'usage' ? usage.message : '',
    )?.[1];
    expect(JSON.parse(example ?? 'null')).toEqual({ command: 'uptime' });
  });

  it('explains a missing command or bad JSON', () => {
    expect(parseDirective('/invoke box')).toMatchObject({
      kind: 'usage',
      message: expect.stringContaining('usage: /invoke'),
    });
    expect(parseDirective('/invoke box echo {nope')).toMatchObject({
      kind: 'usage',
      message: expect.stringContaining('not valid JSON'),
    });
  });
});

describe('LocalProvider', () => {
  const provider = new LocalProvider();
  const invoker = () =>
    new FakeInvoker()
      .addNode({
        nodeId: 'nd_1',
        name: 'kitchen',
        commands: { echo: (p) => ({ echoed: p }), 'system.run': () => 'up 3 days' },
      })
      .addNode({
        nodeId: 'nd_2',
        name: 'laptop',
        online: false,
        commands: { 'camera.snap': () => 'jpeg' },
      });

  it('answers free text honestly: what it is and which provider to configure', async () => {
    const { toolbox } = recordingToolbox(invoker());
    const turn = turnFor('what is the weather?', toolbox);
    const { text } = await provider.runTurn(turn);
    expect(text).toContain('local provider');
    expect(text).toContain('agent.provider');
    expect(text).toContain('"openai"');
    expect(text).toContain('/invoke');
    expect(turn.deltas.join('')).toBe(text);
    expect(turn.messages).toEqual([text]);
  });

  it('lists nodes with their state and commands', async () => {
    const { toolbox } = recordingToolbox(invoker());
    const { text } = await provider.runTurn(turnFor('/nodes', toolbox));
    expect(text).toBe(
      '2 nodes:\n• kitchen (nd_1) online — echo, system.run\n• laptop (nd_2) offline — camera.snap',
    );
  });

  it('runs /invoke through the toolbox (the same path as a model tool call) and replies with the result', async () => {
    const inv = invoker();
    const { toolbox, log } = recordingToolbox(inv);
    const { text } = await provider.runTurn(turnFor('/invoke kitchen echo {"say":"hi"}', toolbox));
    expect(text).toBe('kitchen · echo → ok\n{\n  "echoed": {\n    "say": "hi"\n  }\n}');
    expect(log.map((l) => l.phase)).toEqual(['started', 'finished']);
    expect(log[0]!.call).toMatchObject({
      tool: 'kitchen__echo',
      nodeId: 'nd_1',
      command: 'echo',
      params: { say: 'hi' },
    });
    expect(inv.calls[0]!.idempotencyKey).toBe('run-1:call_1');
  });

  it('replies with the typed error when the node cannot run it', async () => {
    const { toolbox } = recordingToolbox(invoker());
    const { text } = await provider.runTurn(turnFor('/invoke laptop camera.snap', toolbox));
    expect(text).toBe('laptop · camera.snap → failed: NOT_CONNECTED: node "laptop" is offline');
  });

  it('names the known nodes when the node does not exist', async () => {
    const { toolbox, log } = recordingToolbox(invoker());
    const { text } = await provider.runTurn(turnFor('/invoke fridge open', toolbox));
    expect(text).toContain('No node named "fridge"');
    expect(text).toContain('kitchen, laptop');
    expect(log).toHaveLength(0);
  });

  it('is deterministic', async () => {
    const a = await provider.runTurn(
      turnFor('/invoke kitchen system.run', recordingToolbox(invoker()).toolbox),
    );
    const b = await provider.runTurn(
      turnFor('/invoke kitchen system.run', recordingToolbox(invoker()).toolbox),
    );
    expect(a).toEqual(b);
    expect(a.text).toBe('kitchen · system.run → ok\nup 3 days');
  });
});
