import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CloseCode,
  type GatewayEventInput,
  LoopgateConfig,
  type LoopgateConfigInput,
  type NodeInvocationMessage,
  type NodePairUpdate,
} from '@loopgate/protocol';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NodeService, type NodeSocket, QueuedNodeConnection } from '../../src/nodes/index.js';
import { rejection } from '../rejection.js';

type FakeSocket = NodeSocket & { closes: Array<{ code: number; reason: string }> };

let seq = 0;
function socket(role: NodeSocket['role'], nodeId?: string, isLoopback = false): FakeSocket {
  const controller = new AbortController();
  const closes: FakeSocket['closes'] = [];
  return {
    id: `conn-${++seq}`,
    role,
    nodeId,
    remoteAddress: isLoopback ? '127.0.0.1' : '192.0.2.7',
    isLoopback,
    closed: controller.signal,
    closes,
    close(code, reason) {
      closes.push({ code, reason });
      controller.abort();
    },
  };
}

const pairingKey = (n: number) => `key-${n}-${'k'.repeat(40)}`;
const request = (name: string, key: string, commands = ['system.info', 'fs.read']) => ({
  name,
  platform: 'linux',
  version: '1.0.0',
  commands,
  pairingKey: key,
});

let stateDir: string;
let services: NodeService[] = [];
let events: GatewayEventInput[] = [];

function service(nodes: NonNullable<LoopgateConfigInput['gateway']>['nodes'] = {}): NodeService {
  const config = LoopgateConfig.parse({ gateway: { nodes } });
  const svc = new NodeService({
    config,
    stateDir,
    events: { emit: (e) => events.push(e) },
    log: pino({ level: 'silent' }),
  });
  services.push(svc);
  return svc;
}

/** Pairs `name` through request + approve and returns its token. */
async function pair(svc: NodeService, name: string, key = pairingKey(seq++), commands?: string[]) {
  const session = await svc.requestPairing(request(name, key, commands), socket('pairing'));
  expect(session.first.status).toBe('pending');
  await svc.approve(name);
  const decision = (await session.decision) as Extract<NodePairUpdate, { status: 'approved' }>;
  expect(decision.status).toBe('approved');
  return decision;
}

/** Connects a paired node: socket opened, invocation stream attached. */
function connect(svc: NodeService, token: string, commands = ['system.info', 'fs.read']) {
  const auth = svc.authenticateNodeToken(token);
  expect(auth).toBeDefined();
  const conn = socket('node', auth!.nodeId);
  svc.onConnectionOpened(conn);
  const stream = new QueuedNodeConnection({
    connectionId: conn.id,
    nodeId: auth!.nodeId,
    close: conn.close,
  });
  const received: NodeInvocationMessage[] = [];
  stream.send = (m) => {
    received.push(m);
  };
  svc.attachInvocations(conn, { commands }, stream);
  return { conn, stream, received, nodeId: auth!.nodeId };
}

beforeEach(async () => {
  stateDir = await mkdtemp(join(tmpdir(), 'lg-nodes-'));
  events = [];
});
afterEach(async () => {
  for (const svc of services) await svc.close();
  services = [];
  await rm(stateDir, { recursive: true, force: true });
});

describe('NodeService pairing', () => {
  it('shows a request to operators, approves it, and hands the token out once, stored only hashed', async () => {
    const svc = service();
    await svc.open();
    const session = await svc.requestPairing(request('box', pairingKey(1)), socket('pairing'));
    expect(session.first).toMatchObject({ status: 'pending' });
    expect(svc.listPending()).toEqual([
      expect.objectContaining({ name: 'box', waiting: true, platform: 'linux' }),
    ]);
    expect(svc.list()).toEqual([expect.objectContaining({ state: 'pending', name: 'box' })]);
    expect(events).toContainEqual(
      expect.objectContaining({ type: 'node.pair.requested', name: 'box' }),
    );

    const approved = await svc.approve('box', ['system.info']);
    const decision = await session.decision;
    expect(decision).toMatchObject({
      status: 'approved',
      nodeId: approved.nodeId,
      approvedCommands: ['system.info'],
    });
    const token = (decision as { nodeToken: string }).nodeToken;
    expect(token).toMatch(/^lgn_/);
    expect(svc.authenticateNodeToken(token)).toEqual({ nodeId: approved.nodeId });
    expect(svc.authenticateNodeToken(`${token}x`)).toBeUndefined();

    const file = await readFile(join(stateDir, 'nodes.json'), 'utf8');
    expect(file).not.toContain(token);
    expect(file).not.toContain(pairingKey(1));
    expect((await stat(join(stateDir, 'nodes.json'))).mode & 0o777).toBe(0o600);
    expect(events).toContainEqual(
      expect.objectContaining({ type: 'node.pair.resolved', decision: 'approved' }),
    );
  });

  it('lets a node that dropped rejoin its request with the same key (no duplicate)', async () => {
    const svc = service();
    await svc.open();
    const first = await svc.requestPairing(request('box', pairingKey(2)), socket('pairing'));
    const again = await svc.requestPairing(request('box', pairingKey(2)), socket('pairing'));
    expect(again.first).toEqual(first.first);
    expect(svc.listPending()).toHaveLength(1);
  });

  it('lets a node collect a token approved while it was away, even after a gateway restart', async () => {
    const a = service();
    await a.open();
    const conn = socket('pairing');
    await a.requestPairing(request('box', pairingKey(3)), conn);
    a.onConnectionClosed(conn);
    expect(a.listPending()[0]?.waiting).toBe(false);
    await a.approve('box');
    await a.close();

    const b = service();
    await b.open();
    const back = await b.requestPairing(request('box', pairingKey(3)), socket('pairing'));
    expect(back.first).toMatchObject({ status: 'approved', name: 'box' });
    const token = (back.first as { nodeToken: string }).nodeToken;
    expect(b.authenticateNodeToken(token)).toBeDefined();
    // once the token has been used, the pairing key is spent
    const replay = await rejection(
      b.requestPairing(request('box', pairingKey(3)), socket('pairing')),
    );
    expect(replay.code).toBe('CONFLICT');
  });

  it('rejects, and tells a node that asks again with the same key that it was rejected', async () => {
    const svc = service();
    await svc.open();
    const session = await svc.requestPairing(request('box', pairingKey(4)), socket('pairing'));
    svc.reject('box', 'not ours');
    await expect(session.decision).resolves.toEqual({ status: 'rejected', reason: 'not ours' });
    const again = await svc.requestPairing(request('box', pairingKey(4)), socket('pairing'));
    expect(again.first).toEqual({ status: 'rejected', reason: 'not ours' });
    expect(svc.listPending()).toHaveLength(0);
  });

  it('expires pending requests after pendingTtlMs', async () => {
    const svc = service({ pendingTtlMs: 30 });
    await svc.open();
    const session = await svc.requestPairing(request('box', pairingKey(5)), socket('pairing'));
    await expect(session.decision).resolves.toEqual({ status: 'expired' });
    expect(svc.listPending()).toHaveLength(0);
    expect(events).toContainEqual(
      expect.objectContaining({ type: 'node.pair.resolved', decision: 'expired' }),
    );
  });

  it('caps pending requests at maxPending', async () => {
    const svc = service({ maxPending: 2 });
    await svc.open();
    await svc.requestPairing(request('a', pairingKey(6)), socket('pairing'));
    await svc.requestPairing(request('b', pairingKey(7)), socket('pairing'));
    const error = await rejection(
      svc.requestPairing(request('c', pairingKey(8)), socket('pairing')),
    );
    expect(error.code).toBe('LIMIT_EXCEEDED');
    expect(error.message).toContain('maxPending');
  });

  it('refuses a second node with a name that is taken', async () => {
    const svc = service();
    await svc.open();
    await pair(svc, 'box');
    const error = await rejection(
      svc.requestPairing(request('BOX', pairingKey(9)), socket('pairing')),
    );
    expect(error.code).toBe('CONFLICT');
    expect(error.message).toContain('loopgate nodes remove');
  });

  it('auto-approves loopback requests when gateway.nodes.autoApproveLoopback is on', async () => {
    const svc = service({ autoApproveLoopback: true });
    await svc.open();
    const remote = await svc.requestPairing(
      request('far', pairingKey(10)),
      socket('pairing', undefined, false),
    );
    expect(remote.first.status).toBe('pending');
    const local = await svc.requestPairing(
      request('near', pairingKey(11)),
      socket('pairing', undefined, true),
    );
    expect(local.first).toMatchObject({ status: 'approved', name: 'near' });
  });

  it('refuses a corrupt nodes.json instead of silently unpairing everything', async () => {
    await writeFile(join(stateDir, 'nodes.json'), '{"version":1,"nodes":[{"nodeId":1}]}');
    const error = await rejection(service().open());
    expect(error.message).toMatch(/nodes\.json .*invalid/);
    expect(error.message).not.toContain(stateDir);
  });
});

describe('NodeService presence and invoke', () => {
  it('runs an invocation on an online node', async () => {
    const svc = service();
    await svc.open();
    const { nodeToken } = await pair(svc, 'box');
    const node = connect(svc, nodeToken);
    expect(svc.list()).toEqual([
      expect.objectContaining({
        state: 'online',
        name: 'box',
        commands: ['system.info', 'fs.read'],
      }),
    ]);
    expect(events).toContainEqual(expect.objectContaining({ type: 'node.online', name: 'box' }));
    const pending = svc.invoke({
      nodeId: 'box',
      command: 'system.info',
      params: {},
      idempotencyKey: 'x',
    });
    const [inv] = node.received;
    expect(inv?.kind).toBe('invoke');
    expect(svc.describe('box')).toMatchObject({
      state: 'online',
      invocations: [expect.objectContaining({ phase: 'delivered' })],
    });
    svc.postResult(node.conn, {
      invocationId: inv!.invocationId,
      ok: true,
      payload: { up: 1 },
    } as never);
    await expect(pending).resolves.toMatchObject({ payload: { up: 1 }, nodeId: node.nodeId });
    expect(events).toContainEqual(
      expect.objectContaining({ type: 'node.invoke.finished', ok: true }),
    );
  });

  it('answers NOT_PAIRED, NOT_CONNECTED and COMMAND_NOT_ALLOWED at once', async () => {
    const svc = service();
    await svc.open();
    expect((await rejection(svc.invoke({ nodeId: 'ghost', command: 'system.info' }))).code).toBe(
      'NOT_PAIRED',
    );
    await svc.requestPairing(request('waiting', pairingKey(12)), socket('pairing'));
    const waiting = await rejection(svc.invoke({ nodeId: 'waiting', command: 'system.info' }));
    expect(waiting.code).toBe('NOT_PAIRED');
    expect(waiting.message).toContain('waiting for pairing approval');

    const { nodeToken } = await pair(svc, 'box', pairingKey(13), ['system.info', 'system.run']);
    const offline = await rejection(svc.invoke({ nodeId: 'box', command: 'system.info' }));
    expect(offline.code).toBe('NOT_CONNECTED');
    expect(offline.message).toContain('never connected');

    connect(svc, nodeToken, ['system.info', 'system.run', 'extra.cmd']);
    expect((await rejection(svc.invoke({ nodeId: 'box', command: 'nope.cmd' }))).code).toBe(
      'COMMAND_NOT_ALLOWED',
    );
    const unapproved = await rejection(svc.invoke({ nodeId: 'box', command: 'extra.cmd' }));
    expect(unapproved.code).toBe('COMMAND_NOT_ALLOWED');
    expect(unapproved.message).toContain('not approved');
  });

  it('fails in-flight calls with NODE_DISCONNECTED when the socket closes, and shows the node offline', async () => {
    const svc = service();
    await svc.open();
    const { nodeToken } = await pair(svc, 'box');
    const node = connect(svc, nodeToken);
    const pending = svc.invoke({ nodeId: 'box', command: 'system.info' });
    node.conn.close(1006, 'gone');
    expect((await rejection(pending)).code).toBe('NODE_DISCONNECTED');
    expect(svc.list()).toEqual([
      expect.objectContaining({ state: 'offline', lastSeenAt: expect.any(Number) }),
    ]);
    expect(events).toContainEqual(expect.objectContaining({ type: 'node.offline', name: 'box' }));
  });

  it('revokes: closes the live socket with 4010 and the token stops working', async () => {
    const svc = service();
    await svc.open();
    const { nodeToken } = await pair(svc, 'box');
    const node = connect(svc, nodeToken);
    const pending = svc.invoke({ nodeId: 'box', command: 'system.info' });
    const removed = await svc.remove('box');
    expect(removed).toMatchObject({ name: 'box', closedConnections: 1 });
    expect(node.conn.closes).toEqual([
      { code: CloseCode.revoked, reason: expect.stringContaining('removed') },
    ]);
    expect((await rejection(pending)).code).toBe('NODE_DISCONNECTED');
    expect(svc.authenticateNodeToken(nodeToken)).toBeUndefined();
    expect(svc.list()).toEqual([]);
    expect(events).toContainEqual(
      expect.objectContaining({ type: 'node.removed', nodeId: node.nodeId }),
    );
    // a call from a socket that outlived its node is refused
    const late = socket('node', node.nodeId);
    await expect(svc.hello(late, { commands: [] })).rejects.toMatchObject({ code: 'NOT_PAIRED' });
    expect(late.closes[0]?.code).toBe(CloseCode.revoked);
  });

  it('keeps pairings across a restart, with every node offline (no ghosts)', async () => {
    const a = service();
    await a.open();
    const { nodeToken, nodeId } = await pair(a, 'box');
    connect(a, nodeToken);
    await a.close();

    const b = service();
    await b.open();
    expect(b.list()).toEqual([expect.objectContaining({ state: 'offline', nodeId, name: 'box' })]);
    expect(b.authenticateNodeToken(nodeToken)).toEqual({ nodeId });
    expect((await rejection(b.invoke({ nodeId: 'box', command: 'system.info' }))).code).toBe(
      'NOT_CONNECTED',
    );
  });

  it('replaces an older connection of the same node and fails what ran on it', async () => {
    const svc = service();
    await svc.open();
    const { nodeToken } = await pair(svc, 'box');
    const old = connect(svc, nodeToken);
    const pending = svc.invoke({ nodeId: 'box', command: 'system.info' });
    const fresh = connect(svc, nodeToken);
    expect((await rejection(pending)).code).toBe('NODE_DISCONNECTED');
    expect(old.conn.closes[0]?.code).toBe(CloseCode.forbidden);
    const next = svc.invoke({ nodeId: 'box', command: 'system.info' });
    svc.postResult(fresh.conn, {
      invocationId: fresh.received[0]!.invocationId,
      ok: true,
      payload: 2,
    } as never);
    await expect(next).resolves.toMatchObject({ payload: 2 });
  });

  it('probes every paired node live for status --deep', async () => {
    const svc = service();
    await svc.open();
    const { nodeToken } = await pair(svc, 'up', pairingKey(20), ['system.info']);
    await pair(svc, 'down', pairingKey(21));
    const up = connect(svc, nodeToken, ['system.info']);
    const probing = svc.probe(1_000);
    const inv = up.received[0]!;
    expect(inv).toMatchObject({ kind: 'invoke', command: 'system.info' });
    svc.postResult(up.conn, { invocationId: inv.invocationId, ok: true, payload: {} } as never);
    const probes = await probing;
    expect(probes).toContainEqual(
      expect.objectContaining({ name: 'up', ok: true, latencyMs: expect.any(Number) }),
    );
    expect(probes).toContainEqual(
      expect.objectContaining({ name: 'down', ok: false, error: 'offline' }),
    );
  });

  it('tells the node at hello what it may be invoked for', async () => {
    const svc = service();
    await svc.open();
    const { nodeToken, nodeId } = await pair(svc, 'box', pairingKey(14), ['system.info']);
    const conn = socket('node', nodeId);
    svc.onConnectionOpened(conn);
    const hello = await svc.hello(conn, { commands: ['system.info', 'new.cmd'] });
    expect(hello).toMatchObject({
      nodeId,
      allowedCommands: ['system.info'],
      notApproved: ['new.cmd'],
    });
    expect(hello.limits.maxResultBytes).toBeGreaterThan(0);
    expect(nodeToken).toBeTruthy();
  });
});
