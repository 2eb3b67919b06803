import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createGatewayClient } from '@loopgate/client';
import { createGateway, type Gateway } from '@loopgate/gateway';
import { createNode, type LoopgateNode } from '@loopgate/node';
import JSON5 from 'json5';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { portErrorOf } from '../src/client-port.js';
import { DashboardController } from '../src/controller/index.js';
import { isMissingProcedure } from '../src/gateway-port.js';
import { parseCommand } from '../src/keys/command-line.js';
import { effectsForKey } from '../src/keys/index.js';
import { openDashboardLog } from '../src/log/dashboard-log.js';
import { gatewayPortFactory } from '../src/open-gateway.js';
import {
  createDashboardStore,
  type DashboardState,
  type DashboardStore,
  initialState,
} from '../src/state/index.js';
import { frameOf, rawFrameOf } from './render.js';

/** Resolves once the store reaches a state, by its own change notifications; bounded. */
function until(
  store: DashboardStore,
  what: string,
  check: (state: DashboardState) => boolean,
  timeoutMs = 10_000,
): Promise<DashboardState> {
  return new Promise((resolve, reject) => {
    const done = () => {
      if (!check(store.getState())) return false;
      clearTimeout(timer);
      unsubscribe();
      resolve(store.getState());
      return true;
    };
    const timer = setTimeout(() => {
      unsubscribe();
      reject(
        new Error(
          `timed out waiting for ${what}; link is ${store.getState().connection.link.state}`,
        ),
      );
    }, timeoutMs);
    const unsubscribe = store.subscribe(done);
    done();
  });
}

let stateDir: string;
let gateway: Gateway;
let token: string;
let controller: DashboardController | undefined;
let node: LoopgateNode | undefined;

async function startGateway(port = 0): Promise<Gateway> {
  const g = createGateway({ gateway: { port }, logging: { level: 'silent' } }, { stateDir });
  await g.start();
  return g;
}

beforeEach(async () => {
  stateDir = await mkdtemp(join(tmpdir(), 'loopgate-dashboard-controller-'));
  gateway = await startGateway();
  token = (await readFile(gateway.tokenPath!, 'utf8')).trim();
});

afterEach(async () => {
  await node?.stop().catch(() => {});
  node = undefined;
  await controller?.dispose();
  controller = undefined;
  await gateway.stop('test finished');
  await rm(stateDir, { recursive: true, force: true });
});

function startDashboard(as = token): DashboardStore {
  const store = createDashboardStore(
    initialState({
      columns: 80,
      rows: 24,
      readOnly: false,
      target: gateway.url,
      configPath: join(stateDir, 'config.json5'),
      settings: { mode: 'local', url: '', ssh: undefined, tlsFingerprint: [] },
    }),
  );
  controller = new DashboardController({
    store,
    openPort: gatewayPortFactory({ configPath: undefined, log: openDashboardLog(undefined) }),
    target: { url: gateway.url, token: as },
    log: openDashboardLog(undefined),
    onQuit: () => {},
    pollMs: 200,
    eventFlushMs: 20,
    refetchDelayMs: 20,
  });
  controller.start();
  return store;
}

describe('the dashboard controller against a real gateway', () => {
  it('connects, loads health and status, and measures the round trip', async () => {
    const store = startDashboard();
    const state = await until(
      store,
      'health, status and a round trip',
      (s) =>
        s.connection.link.state === 'open' &&
        !!s.gateway.health &&
        !!s.gateway.status &&
        s.connection.rttHistory.length > 0,
    );
    expect(state.gateway.health?.ok).toBe(true);
    expect(state.gateway.status?.bind.port).toBe(gateway.port);
    expect(state.connection.target).toBe(gateway.url);
    expect(state.features.status).toBe('available');
  });

  it('learns its scope from whoami: a read token sees which procedures it may not call and why', async () => {
    const admin = createGatewayClient({ url: gateway.url, token, retry: false });
    const reader = await admin.tokens.create.mutate({ name: 'dash', scope: 'operator.read' });
    await admin.close();
    const store = startDashboard(reader.token);
    const state = await until(store, 'the scope', (s) => s.access !== undefined);
    expect(state.access?.principal).toBe('operator.read');
    expect(state.access?.denied['nodes.invoke']).toBe('operator.write');
    expect(state.access?.denied['nodes.pair.approve']).toBe('operator.admin');
    expect(state.access?.denied.health).toBeUndefined();
  });

  it('sees a node ask to pair, approves it, and invokes system.info with a result and a typed error', async () => {
    const store = startDashboard();
    await until(store, 'open link', (s) => s.connection.link.state === 'open');
    node = createNode({
      name: 'testbox',
      url: gateway.url,
      stateDir: join(stateDir, 'node'),
      commands: { 'system.info': async () => ({ hostname: 'testbox-host' }) },
    });
    const online = node.start();
    let state = await until(store, 'the pairing request', (s) =>
      s.nodes.pending.some((p) => p.name === 'testbox'),
    );
    expect(state.events.lines.some((l) => l.text.includes('pairing requested by "testbox"'))).toBe(
      true,
    );
    const request = state.nodes.pending.find((p) => p.name === 'testbox')!;

    controller!.perform({ kind: 'approve-pairing', requestId: request.requestId, name: 'testbox' });
    state = await until(store, 'the node online', (s) =>
      s.nodes.list.some((n) => n.name === 'testbox' && n.state === 'online'),
    );
    await online;
    // The online event and the pending-list refetch arrive independently; the approved
    // request must leave the list, whichever lands first.
    state = await until(store, 'the approved request to leave the pending list', (s) =>
      s.nodes.pending.every((p) => p.name !== 'testbox'),
    );
    expect(state.nodes.pending).toEqual([]);
    const nodeId = state.nodes.list.find((n) => n.name === 'testbox')!.nodeId;

    controller!.perform({ kind: 'invoke', nodeId, command: 'system.info', params: {} });
    state = await until(store, 'the invoke result', (s) => s.nodes.invoke?.outcome.state === 'ok');
    expect(state.nodes.invoke?.outcome).toMatchObject({
      resultText: expect.stringContaining('"hostname": "testbox-host"'),
    });

    controller!.perform({ kind: 'invoke', nodeId, command: 'system.reboot', params: {} });
    state = await until(
      store,
      'the typed error',
      (s) => s.nodes.invoke?.outcome.state === 'failed',
    );
    expect(state.nodes.invoke?.outcome).toMatchObject({
      error: { code: expect.stringMatching(/COMMAND_NOT_ALLOWED|BAD_REQUEST/) },
    });
  });

  it('shows reconnecting while the gateway restarts, then recovers and resumes the event stream by itself', async () => {
    const store = startDashboard();
    await until(
      store,
      'open link',
      (s) => s.connection.link.state === 'open' && !!s.gateway.status,
    );
    const port = gateway.port;
    await gateway.stop('restart');
    await until(store, 'reconnecting', (s) => s.connection.link.state === 'reconnecting');
    gateway = await startGateway(port);
    const state = await until(
      store,
      'open again',
      (s) => s.connection.link.state === 'open',
      20_000,
    );
    expect(state.connection.link.state).toBe('open');
    // the stream resumed: an event emitted after the restart arrives
    node = createNode({
      name: 'late-node',
      url: gateway.url,
      stateDir: join(stateDir, 'node2'),
      commands: {},
    });
    void node.start().catch(() => {});
    await until(store, 'an event after the restart', (s) =>
      s.nodes.pending.some((p) => p.name === 'late-node'),
    );
  });

  it('no silent wait: the status bar says what it dials, why it failed and when it retries', async () => {
    const store = startDashboard();
    await until(store, 'open link', (s) => s.connection.link.state === 'open');
    await gateway.stop('gone');
    const state = await until(
      store,
      'a retry with its delay',
      (s) =>
        s.connection.link.state === 'reconnecting' &&
        s.connection.link.attempt >= 2 &&
        s.connection.link.retryInMs !== undefined,
    );
    const wide = { ...state, terminal: { columns: 120, rows: 24 } };
    const statusBar = frameOf(wide, Date.now()).split('\n').at(-2) ?? '';
    const escaped = gateway.url.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    expect(statusBar).toMatch(
      new RegExp(
        `↻ reconnecting \\d+ +connecting to ${escaped}: connection refused — retrying in [\\d.]+ (ms|s) \\(attempt \\d+\\)`,
      ),
    );
    gateway = await startGateway();
  });

  it('applies a burst of events in a few batches and keeps only the newest lines', async () => {
    const store = startDashboard();
    await until(store, 'open link', (s) => s.connection.link.state === 'open');
    // the stream is live once a marker event arrives
    await until(store, 'the marker event', (s) => {
      gateway.services.events.emit({ type: 'session.reset', sessionId: 'marker' });
      return s.events.lines.some((l) => l.text.includes('marker'));
    });
    let renders = 0;
    const unsubscribe = store.subscribe(() => renders++);
    for (let i = 0; i < 3_000; i++)
      gateway.services.events.emit({ type: 'session.reset', sessionId: `burst-${i}` });
    const state = await until(
      store,
      'the last event of the burst',
      (s) => s.events.lines.at(-1)?.text.includes('burst-2999') === true,
    );
    unsubscribe();
    expect(state.events.lines).toHaveLength(state.events.capacity);
    expect(state.events.lines[0]!.text).toContain(`burst-${3_000 - state.events.capacity}`);
    // thousands of events, a handful of state changes (and so of renders)
    expect(renders).toBeLessThan(60);
  });

  it('reports a procedure the gateway does not have as "not available", not as a failure', async () => {
    const client = createGatewayClient({ url: gateway.url, token, retry: false });
    try {
      const nope = (
        client as unknown as { dashboard: { nothingHere: { query(): Promise<unknown> } } }
      ).dashboard.nothingHere;
      const error = await nope.query().catch((e: unknown) => e);
      expect(isMissingProcedure(portErrorOf('dashboard.nothingHere', error))).toBe(true);
      // a real failure of an existing procedure stays what it is
      const invalid = await client.status.query({ deep: 'yes' } as never).catch((e: unknown) => e);
      expect(isMissingProcedure(portErrorOf('status', invalid))).toBe(false);
    } finally {
      await client.close();
    }
  });
});

/**
 * A paired node's error message and result are its own words; with OSC 52 a
 * terminal writes them to the clipboard, with ESC [2J it clears the screen,
 * with a carriage return or a bidi override the row reads as something else.
 */
describe('hardening row 45: a paired node writing to the operator’s terminal through the dashboard', () => {
  it('row 45: the Nodes pane shows a node’s error message and result with their control characters made visible, not sent to the terminal', async () => {
    const hostile = 'boom\u001b]52;c;SGVsbG8=\u0007\u001b[2J\r done\u202e';
    let calls = 0;
    const store = startDashboard();
    await until(store, 'open link', (s) => s.connection.link.state === 'open');
    node = createNode({
      name: 'chatty',
      url: gateway.url,
      stateDir: join(stateDir, 'node'),
      commands: {
        'system.info': async () => {
          calls += 1;
          if (calls === 1) return { file: 'invoice\u202egnp.exe', bell: '\u0007' };
          throw new Error(hostile);
        },
      },
    });
    const online = node.start();
    let state = await until(store, 'the pairing request', (s) =>
      s.nodes.pending.some((p) => p.name === 'chatty'),
    );
    const request = state.nodes.pending.find((p) => p.name === 'chatty')!;
    controller!.perform({ kind: 'approve-pairing', requestId: request.requestId, name: 'chatty' });
    state = await until(store, 'the node online', (s) =>
      s.nodes.list.some((n) => n.name === 'chatty' && n.state === 'online'),
    );
    await online;
    const nodeId = state.nodes.list.find((n) => n.name === 'chatty')!.nodeId;
    const shown = (s: DashboardState) => {
      const raw = rawFrameOf({ ...s, pane: 'nodes', terminal: { columns: 120, rows: 30 } });
      // biome-ignore lint/suspicious/noControlCharactersInRegex: Ink's own colour codes are ESC [ … m
      const ours = raw.replace(/\u001B\[[0-9;]*m/g, '');
      // a control character other than the frame's line breaks, or a bidi override
      expect(ours).not.toMatch(/[^\P{Cc}\n]|[\u202a-\u202e\u2066-\u2069]/u);
      return ours;
    };

    controller!.perform({ kind: 'invoke', nodeId, command: 'system.info', params: {} });
    state = await until(store, 'the invoke result', (s) => s.nodes.invoke?.outcome.state === 'ok');
    expect(shown(state)).toContain('"file": "invoice\\u202egnp.exe"');

    controller!.perform({ kind: 'invoke', nodeId, command: 'system.info', params: {} });
    state = await until(store, 'the failure', (s) => s.nodes.invoke?.outcome.state === 'failed');
    expect(state.nodes.invoke?.outcome).toMatchObject({
      error: { code: 'COMMAND_FAILED', message: expect.stringContaining(hostile) },
    });
    expect(shown(state)).toContain('failed: boom\\x1b]52;c;SGVsbG8=\\x07\\x1b[2J\\x0d done\\u202e');
  });
});

describe('switching gateways and reconnecting', () => {
  it('after a switch no pane shows the previous gateway: no "last known" health, no stale UNAUTHORIZED', async () => {
    const other = createGateway(
      { gateway: { port: 0 }, logging: { level: 'silent' } },
      { stateDir: await mkdtemp(join(tmpdir(), 'loopgate-dashboard-other-')) },
    );
    await other.start();
    try {
      const store = startDashboard();
      await until(
        store,
        'the first gateway loaded',
        (s) => !!s.gateway.health && !!s.gateway.status && s.features.sessions === 'available',
      );
      // the other gateway wants its own token, which this dashboard does not have
      controller!.perform({ kind: 'connect', url: other.url });
      let state = await until(
        store,
        'the refusal',
        (s) => s.connection.target === other.url && s.connection.link.state === 'unauthorized',
      );
      expect(state.gateway.health).toBeUndefined();
      expect(state.gateway.status).toBeUndefined();
      expect(state.events.lastEventId).toBeUndefined();
      const overview = frameOf(state, Date.now());
      expect(overview).not.toContain('last known');
      expect(overview).toContain('no answer yet');
      // a chat attempt on the refusing gateway fails with its error...
      controller!.perform({ kind: 'chat', sessionId: undefined, text: 'hello' });
      state = await until(store, 'the chat error', (s) => s.chat.error !== undefined);
      // ...which does not follow the operator back to the first gateway
      controller!.perform({ kind: 'connect', url: gateway.url });
      state = await until(
        store,
        'the first gateway again',
        (s) => s.connection.link.state === 'open' && !!s.gateway.status,
      );
      expect(state.chat.error).toBeUndefined();
      expect(frameOf({ ...state, pane: 'chat' }, Date.now())).not.toMatch(
        /UNAUTHORIZED|unauthorized/,
      );
    } finally {
      await other.stop('test finished');
    }
  });

  it('fixes an unauthorized remote inside the dashboard: a token file in the Connection pane, used on c, saved only on w', async () => {
    const other = createGateway(
      { gateway: { port: 0 }, logging: { level: 'silent' } },
      { stateDir: await mkdtemp(join(tmpdir(), 'loopgate-dashboard-remote-')) },
    );
    await other.start();
    try {
      const otherToken = (await readFile(other.tokenPath!, 'utf8')).trim();
      const tokenFile = join(stateDir, 'remote.token');
      await writeFile(tokenFile, `${otherToken}\n`, { mode: 0o600 });
      const configPath = join(stateDir, 'config.json5');
      const store = startDashboard();
      await until(store, 'open link', (s) => s.connection.link.state === 'open');
      controller!.perform({ kind: 'connect', url: other.url });
      await until(store, 'unauthorized', (s) => s.connection.link.state === 'unauthorized');

      for (const action of [
        { type: 'connection.mode-toggled' },
        { type: 'connection.field-set', field: 'url', value: other.url },
        { type: 'connection.field-set', field: 'token', value: 'file:remote.token' },
      ] as const)
        store.dispatch(action);
      controller!.perform({ kind: 'apply-connection' });
      const state = await until(
        store,
        'the remote gateway open',
        (s) => s.connection.link.state === 'open' && s.gateway.status?.bind.port === other.port,
      );
      expect(state.connection.target).toBe(other.url);
      // connecting wrote nothing
      await expect(readFile(configPath, 'utf8')).rejects.toMatchObject({ code: 'ENOENT' });

      controller!.perform({ kind: 'save-connection' });
      await until(store, 'saved', (s) => /saved gateway.mode/.test(s.notice?.text ?? ''));
      const saved = await readFile(configPath, 'utf8');
      expect(saved).toContain('remote.token');
      expect(saved).not.toContain(otherToken);
      expect(JSON5.parse(saved).gateway).toMatchObject({
        mode: 'remote',
        remote: { url: other.url, tokenFile: 'remote.token' },
      });
    } finally {
      await other.stop('test finished');
    }
  });

  it('c in local mode reconnects to the --url the dashboard was started with, not to 127.0.0.1:18789', async () => {
    // started as `loopgate tui --url ws://127.0.0.1:<not 18789>`, no config file: local mode
    expect(gateway.port).not.toBe(18789);
    const store = startDashboard();
    await until(store, 'open link', (s) => s.connection.link.state === 'open');
    store.dispatch({ type: 'pane.selected', pane: 'connection' });
    expect(store.getState().connection.draft.mode).toBe('local');
    const effects = effectsForKey(store.getState(), { name: 'c', text: 'c' });
    expect(effects).toEqual([{ perform: { kind: 'apply-connection' } }]);
    controller!.perform({ kind: 'apply-connection' });
    await until(store, 'the old link to go', (s) => s.connection.link.state !== 'open');
    const state = await until(
      store,
      'the new link open',
      (s) => s.connection.link.state === 'open',
    );
    expect(state.connection.target).toBe(gateway.url);
  });

  it('after a reconnect the Overview counts the nodes the Nodes pane lists, without a deep probe', async () => {
    const store = startDashboard();
    await until(store, 'open link', (s) => s.connection.link.state === 'open');
    const nodeDir = join(stateDir, 'node');
    const makeNode = () =>
      createNode({
        name: 'countbox',
        url: gateway.url,
        stateDir: nodeDir,
        commands: { 'system.info': async () => ({}) },
      });
    node = makeNode();
    const online = node.start();
    const request = await until(store, 'the pairing request', (s) =>
      s.nodes.pending.some((p) => p.name === 'countbox'),
    );
    const { requestId } = request.nodes.pending.find((p) => p.name === 'countbox')!;
    controller!.perform({ kind: 'approve-pairing', requestId, name: 'countbox' });
    await online;
    await node.stop();
    // the gateway restarts; the dashboard is back (and has its status) before the node is
    const port = gateway.port;
    await gateway.stop('restart');
    await until(store, 'reconnecting', (s) => s.connection.link.state === 'reconnecting');
    gateway = await startGateway(port);
    await until(
      store,
      'open again with status and nodes',
      (s) =>
        s.connection.link.state === 'open' &&
        s.gateway.status?.nodes.online === 0 &&
        s.nodes.list.some((n) => n.name === 'countbox' && n.state === 'offline'),
      20_000,
    );
    node = makeNode();
    await node.start();
    const state = await until(store, 'the node online in the Nodes pane', (s) =>
      s.nodes.list.some((n) => n.name === 'countbox' && n.state === 'online'),
    );
    const overview = frameOf({ ...state, pane: 'overview' }, Date.now());
    expect(overview).toMatch(/Nodes +1 online · 1 paired · 0 pending/);
  });
});

describe(':ctx switches to a named gateway from the config', () => {
  it('reconnects to the context with its own token file, and the header names it', async () => {
    const other = createGateway(
      { gateway: { port: 0 }, logging: { level: 'silent' } },
      { stateDir: await mkdtemp(join(tmpdir(), 'loopgate-dashboard-ctx-')) },
    );
    await other.start();
    try {
      const otherToken = (await readFile(other.tokenPath!, 'utf8')).trim();
      const configPath = join(stateDir, 'client.json5');
      await writeFile(join(stateDir, 'work.token'), otherToken, { mode: 0o600 });
      await writeFile(
        configPath,
        JSON.stringify({ contexts: { work: { url: other.url, tokenFile: 'work.token' } } }),
      );
      const store = createDashboardStore(
        initialState({
          columns: 100,
          rows: 24,
          readOnly: false,
          target: gateway.url,
          configPath,
          settings: { mode: 'local', url: '', ssh: undefined, tlsFingerprint: [] },
        }),
      );
      controller = new DashboardController({
        store,
        openPort: gatewayPortFactory({ configPath, log: openDashboardLog(undefined) }),
        target: { url: gateway.url, token },
        log: openDashboardLog(undefined),
        onQuit: () => {},
        pollMs: 200,
      });
      controller.start();
      await until(store, 'the first gateway', (s) => s.gateway.status?.bind.port === gateway.port);
      expect(store.getState().connection.context).toBeUndefined();

      const effects = parseCommand('ctx work', store.getState());
      expect(effects).toMatchObject({
        effects: [{}, { perform: { kind: 'use-context', name: 'work' } }],
      });
      await controller.perform({ kind: 'use-context', name: 'work' });
      const state = await until(
        store,
        'the context gateway',
        (s) => s.connection.link.state === 'open' && s.gateway.status?.bind.port === other.port,
      );
      expect(state.connection.context).toBe('work');
      const header = frameOf(state, Date.now()).split('\n')[0] ?? '';
      expect(header).toContain(`Loopgate ctx work · ${state.connection.target} · v`);

      await controller.perform({ kind: 'use-context', name: 'nowhere' });
      await until(store, 'the refusal', (s) => /no context "nowhere"/.test(s.notice?.text ?? ''));
    } finally {
      await other.stop('test finished');
    }
  });
});
