import { describe, expect, it } from 'vitest';
import {
  type DashboardState,
  initialState,
  nodeRows,
  visibleEventLines,
} from '../src/state/index.js';
import { buildBox, event, laptopRequest, liveState, NOW, pi, reduce } from './fixtures.js';

function empty(capacity = 1000): DashboardState {
  return initialState({
    columns: 80,
    rows: 24,
    readOnly: false,
    target: 'ws://127.0.0.1:18789',
    configPath: '/tmp/config.json5',
    settings: { mode: 'local', url: '', ssh: undefined, tlsFingerprint: [] },
    eventCapacity: capacity,
    now: NOW,
  });
}

function offline(name: string, i: number) {
  return {
    id: String(i),
    event: event({ type: 'node.offline', nodeId: `nd_${i}`, name, reason: 'socket closed' }),
  };
}

describe('event log', () => {
  it('keeps a bounded buffer, counting what it dropped', () => {
    const batch = Array.from({ length: 25 }, (_, i) => offline(`n${i}`, i + 1));
    const state = reduce(empty(10), { type: 'events.received', batch });
    expect(state.events.lines).toHaveLength(10);
    expect(state.events.dropped).toBe(15);
    expect(state.events.lines[0]!.text).toContain('"n15"');
    expect(state.events.lastEventId).toBe('25');
  });

  it('keeps health ticks out of the log but uses them for health, and does not advance the resume id with them', () => {
    const tick = event({
      type: 'health.tick',
      health: liveState({ columns: 80, rows: 24 }).gateway.health!,
    });
    const state = reduce(empty(), {
      type: 'events.received',
      batch: [offline('a', 7), { id: '7', event: tick }],
    });
    expect(state.events.lines).toHaveLength(1);
    expect(state.gateway.health?.ok).toBe(true);
    expect(state.events.lastEventId).toBe('7');
  });

  it('follows by default, pauses on scroll up, counts new lines, and resumes at the bottom', () => {
    let state = reduce(empty(), {
      type: 'events.received',
      batch: [offline('a', 1), offline('b', 2), offline('c', 3)],
    });
    expect(state.events.follow).toBe(true);
    state = reduce(state, { type: 'events.scrolled', delta: -1 });
    expect(state.events.follow).toBe(false);
    expect(state.events.cursor).toBe(2);
    state = reduce(state, { type: 'events.received', batch: [offline('d', 4), offline('e', 5)] });
    expect(state.events.unseen).toBe(2);
    // the paused view stays on the same line while new ones arrive
    expect(state.events.cursor).toBe(2);
    state = reduce(state, { type: 'events.scrolled', delta: 100 });
    expect(state.events.follow).toBe(true);
    expect(state.events.unseen).toBe(0);
  });

  it('moves the cursor onto the oldest kept line when its line is dropped from the buffer', () => {
    let state = reduce(empty(3), {
      type: 'events.received',
      batch: [offline('a', 1), offline('b', 2), offline('c', 3)],
    });
    state = reduce(state, { type: 'events.top' });
    expect(state.events.cursor).toBe(1);
    state = reduce(state, { type: 'events.received', batch: [offline('d', 4), offline('e', 5)] });
    expect(state.events.cursor).toBe(state.events.lines[0]!.n);
  });

  it('filters with a case-insensitive regex, inverts with !, and falls back to text for a broken regex', () => {
    const state = reduce(empty(), {
      type: 'events.received',
      batch: [offline('alpha', 1), offline('beta', 2), offline('(gamma', 3)],
    });
    const shown = (filter: string) =>
      visibleEventLines(reduce(state, { type: 'events.filtered', filter }).events).map(
        (l) => l.text,
      );
    expect(shown('ALPHA|beta')).toHaveLength(2);
    expect(shown('!alpha')).toEqual([
      expect.stringContaining('beta'),
      expect.stringContaining('(gamma'),
    ]);
    expect(shown('(gam')).toEqual([expect.stringContaining('(gamma')]);
    expect(shown('node\\.offline')).toHaveLength(3);
  });

  it('searches from the newest line back, steps with n / N and wraps around', () => {
    let state = reduce(empty(), {
      type: 'events.received',
      batch: [offline('web-1', 1), offline('db', 2), offline('web-2', 3), offline('cache', 4)],
    });
    state = reduce(state, { type: 'events.searched', search: 'web' });
    expect(state.events.follow).toBe(false);
    expect(state.events.cursor).toBe(3);
    state = reduce(state, { type: 'events.search-stepped', step: -1 });
    expect(state.events.cursor).toBe(1);
    state = reduce(state, { type: 'events.search-stepped', step: -1 });
    expect(state.events.cursor).toBe(3);
    expect(state.notice?.text).toContain('wrapped');
    state = reduce(state, { type: 'events.search-stepped', step: 1 });
    expect(state.events.cursor).toBe(1);
    const none = reduce(state, { type: 'events.searched', search: 'nothing-like-it' });
    expect(none.notice).toEqual({ level: 'warn', text: 'no event matches "nothing-like-it"' });
  });
});

describe('nodes', () => {
  it('applies presence events at once: online, offline, pairing requested and resolved, removed', () => {
    let state = reduce(empty(), { type: 'nodes.loaded', nodes: [pi] });
    state = reduce(state, {
      type: 'events.received',
      batch: [
        {
          id: '1',
          event: event({
            type: 'node.online',
            nodeId: 'nd_pi',
            name: 'pi-kitchen',
            commands: ['system.info', 'fs.read'],
          }),
        },
        {
          id: '2',
          event: event({
            type: 'node.pair.requested',
            requestId: 'pr_1',
            pairingCode: 'ABCD-EFGH',
            name: 'laptop',
            platform: 'darwin',
            commands: ['system.info'],
          }),
        },
      ],
    });
    expect(state.nodes.list[0]).toMatchObject({
      state: 'online',
      commands: ['system.info', 'fs.read'],
      platform: 'linux',
    });
    expect(state.nodes.pending.map((p) => p.requestId)).toEqual(['pr_1']);
    state = reduce(state, {
      type: 'events.received',
      batch: [
        {
          id: '3',
          event: event({
            type: 'node.pair.resolved',
            requestId: 'pr_1',
            decision: 'approved',
            nodeId: 'nd_laptop',
          }),
        },
        {
          id: '4',
          event: event({
            type: 'node.offline',
            nodeId: 'nd_pi',
            name: 'pi-kitchen',
            reason: 'socket closed',
          }),
        },
      ],
    });
    expect(state.nodes.pending).toEqual([]);
    expect(state.nodes.list[0]!.state).toBe('offline');
    state = reduce(state, {
      type: 'events.received',
      batch: [{ id: '5', event: event({ type: 'node.removed', nodeId: 'nd_pi' }) }],
    });
    expect(state.nodes.list).toEqual([]);
  });

  it('names nodes in the event log by the names the gateway gave them, not by their ids', () => {
    let state = reduce(
      empty(),
      { type: 'nodes.loaded', nodes: [buildBox, pi] },
      { type: 'pairing.loaded', pending: [laptopRequest] },
    );
    state = reduce(state, {
      type: 'events.received',
      batch: [
        {
          id: '1',
          event: event({
            type: 'node.invoke.finished',
            invocationId: 'i1',
            nodeId: 'nd_build',
            command: 'system.info',
            ok: true,
            durationMs: 4,
          }),
        },
        {
          id: '2',
          event: event({
            type: 'node.pair.resolved',
            requestId: 'pr_laptop',
            decision: 'approved',
            nodeId: 'nd_laptop',
          }),
        },
        { id: '3', event: event({ type: 'node.removed', nodeId: 'nd_pi' }) },
        { id: '4', event: event({ type: 'node.removed', nodeId: 'nd_unknown' }) },
      ],
    });
    expect(state.events.lines.map((l) => l.text)).toEqual([
      'invoke system.info on "build-box" ok in 4 ms',
      'pairing of "laptop" approved [pr_laptop]',
      'node "pi-kitchen" removed',
      // a node the dashboard never saw keeps its id
      'node nd_unknown removed',
    ]);
  });

  it('keeps the selection on the same item across refreshes and filters rows by regex', () => {
    let state = reduce(
      empty(),
      { type: 'nodes.loaded', nodes: [buildBox, pi] },
      { type: 'nodes.selection-moved', step: 1 },
    );
    expect(state.nodes.selected).toBe('node:nd_pi');
    state = reduce(
      state,
      { type: 'pairing.loaded', pending: [laptopRequest] },
      { type: 'nodes.loaded', nodes: [pi, buildBox] },
    );
    expect(state.nodes.selected).toBe('node:nd_pi');
    expect(nodeRows(state.nodes).map((r) => r.key)).toEqual([
      'pending:pr_laptop',
      'node:nd_build',
      'node:nd_pi',
    ]);
    state = reduce(state, { type: 'nodes.filtered', filter: '!offline' });
    expect(nodeRows(state.nodes).map((r) => r.key)).toEqual(['pending:pr_laptop', 'node:nd_build']);
    expect(state.nodes.selected).toBe('pending:pr_laptop');
  });

  it('records an invoke from start to result or typed error, and ignores a late second answer', () => {
    const started = reduce(empty(), {
      type: 'invoke.started',
      nodeId: 'nd_build',
      command: 'system.info',
      paramsText: '{}',
      at: 1_000,
    });
    expect(started.pane).toBe('nodes');
    const failed = reduce(started, {
      type: 'invoke.failed',
      error: { code: 'TIMEOUT', message: 'no answer' },
      at: 31_000,
    });
    expect(failed.nodes.invoke?.outcome).toEqual({
      state: 'failed',
      error: { code: 'TIMEOUT', message: 'no answer' },
      durationMs: 30_000,
    });
    expect(reduce(failed, { type: 'invoke.succeeded', resultText: '{}', at: 32_000 })).toBe(failed);
  });
});

describe('chat', () => {
  it('streams a run into a live turn, then folds it into the history when it ends', () => {
    let state = reduce(empty(), { type: 'chat.sent', text: 'hi' });
    expect(state.chat.run).toMatchObject({ runId: '', state: 'queued' });
    state = reduce(
      state,
      { type: 'chat.run-started', runId: 'r1', sessionId: 's1' },
      { type: 'chat.run-updated', runId: 'r1', update: { kind: 'text-delta', text: 'hel' } },
      {
        type: 'chat.run-updated',
        runId: 'other',
        update: { kind: 'text-delta', text: 'NOT MINE' },
      },
      { type: 'chat.run-updated', runId: 'r1', update: { kind: 'text-delta', text: 'lo' } },
    );
    expect(state.chat.sessionId).toBe('s1');
    expect(state.chat.run?.entries).toEqual([
      { kind: 'user', text: 'hi' },
      { kind: 'assistant', text: 'hello' },
    ]);
    state = reduce(state, {
      type: 'chat.run-updated',
      runId: 'r1',
      update: { kind: 'state', state: 'completed' },
    });
    expect(state.chat.run).toBeUndefined();
    expect(state.chat.history).toEqual([
      { kind: 'user', text: 'hi' },
      { kind: 'assistant', text: 'hello' },
    ]);
  });

  it('takes the final text from the run state when the provider did not stream, and shows a failed run', () => {
    let state = reduce(
      empty(),
      { type: 'chat.sent', text: '/help' },
      { type: 'chat.run-started', runId: 'r1', sessionId: 's1' },
      {
        type: 'chat.run-updated',
        runId: 'r1',
        update: { kind: 'state', state: 'completed', text: 'Directives: /nodes' },
      },
    );
    expect(state.chat.history.at(-1)).toEqual({ kind: 'assistant', text: 'Directives: /nodes' });
    state = reduce(
      state,
      { type: 'chat.sent', text: 'x' },
      { type: 'chat.run-started', runId: 'r2', sessionId: 's1' },
      {
        type: 'chat.run-updated',
        runId: 'r2',
        update: { kind: 'state', state: 'failed', error: 'PROVIDER_TIMEOUT: slow' },
      },
    );
    expect(state.chat.history.at(-1)).toEqual({
      kind: 'error',
      text: 'run failed: PROVIDER_TIMEOUT: slow',
    });
  });

  it('keeps the typed message and the reason when the turn cannot start', () => {
    const state = reduce(
      empty(),
      { type: 'chat.sent', text: 'hello?' },
      {
        type: 'chat.failed',
        error: { code: 'UNAVAILABLE', message: 'the agent is not available on this gateway' },
      },
    );
    expect(state.chat.run).toBeUndefined();
    expect(state.chat.history).toEqual([
      { kind: 'user', text: 'hello?' },
      { kind: 'error', text: 'UNAVAILABLE: the agent is not available on this gateway' },
    ]);
  });
});

describe('connection settings', () => {
  it('edits fields with validation, toggles mode, and removes the tunnel with an empty target', () => {
    let state = reduce(
      empty(),
      { type: 'connection.mode-toggled' },
      { type: 'connection.field-set', field: 'url', value: 'wss://home:18789' },
    );
    expect(state.connection.draft).toMatchObject({ mode: 'remote', url: 'wss://home:18789' });
    state = reduce(state, { type: 'connection.field-set', field: 'ssh.localPort', value: '18790' });
    expect(state.notice).toEqual({ level: 'error', text: 'local port: set the SSH target first' });
    state = reduce(
      state,
      { type: 'connection.field-set', field: 'ssh.target', value: 'op@home' },
      { type: 'connection.field-set', field: 'ssh.localPort', value: '70000' },
    );
    expect(state.notice?.text).toBe('local port: expected an integer 0-65535, got "70000"');
    state = reduce(state, { type: 'connection.field-set', field: 'ssh.localPort', value: '18790' });
    expect(state.connection.draft.ssh).toEqual({ target: 'op@home', localPort: 18790 });
    state = reduce(state, {
      type: 'connection.field-set',
      field: 'tlsFingerprint',
      value: 'AA:BB, CC:DD',
    });
    expect(state.connection.draft.tlsFingerprint).toEqual(['AA:BB', 'CC:DD']);
    state = reduce(state, { type: 'connection.field-set', field: 'url', value: 'http://home' });
    expect(state.notice?.text).toContain('expected ws://host:port or wss://host:port');
    state = reduce(state, { type: 'connection.field-set', field: 'ssh.target', value: '' });
    expect(state.connection.draft.ssh).toBeUndefined();
  });

  it('keeps a short round-trip history for the sparkline', () => {
    let state = empty();
    for (let i = 0; i < 100; i++) state = reduce(state, { type: 'rtt.measured', ms: i });
    expect(state.connection.rttHistory).toHaveLength(60);
    expect(state.connection.rttHistory.at(-1)).toBe(99);
    expect(state.connection.rttMs).toBe(99);
  });
});
