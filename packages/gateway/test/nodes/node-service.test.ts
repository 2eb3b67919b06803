import { mkdtemp, rm } from 'node:fs/promises';
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
import { NodeService, QueuedNodeConnection } from '../../src/nodes/index.js';
import { rejection } from '../rejection.js';
import {
  pairingSocket,
  socket,
  type TestNodeKey,
  testChallenge,
  testNodeKey,
} from './node-sockets.js';

const request = (name: string, commands = ['system.info', 'fs.read']) => ({
  name,
  platform: 'linux',
  version: '1.0.0',
  commands,
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

/** Pairs `name` through request + approve (by request id) and returns its node id and key. */
async function pair(svc: NodeService, name: string, key = testNodeKey(), commands?: string[]) {
  const session = await svc.requestPairing(request(name, commands), pairingSocket(key));
  expect(session.first.status).toBe('pending');
  const { requestId } = session.first as { requestId: string };
  await svc.approve(requestId);
  const decision = (await session.decision) as Extract<NodePairUpdate, { status: 'approved' }>;
  expect(decision.status).toBe('approved');
  return { ...decision, key };
}

/** Connects a paired node: the socket proves its key, opens, and attaches its invocation stream. */
function connect(
  svc: NodeService,
  paired: { nodeId: string; key: TestNodeKey },
  commands = ['system.info', 'fs.read'],
) {
  const challenge = testChallenge();
  const identity = svc.authenticate({
    challenge,
    ...paired.key.proof(challenge, paired.nodeId),
  });
  expect(identity).toEqual({ role: 'node', nodeId: paired.nodeId });
  const conn = socket('node', paired.nodeId);
  svc.onConnectionOpened(conn);
  const stream = new QueuedNodeConnection({
    connectionId: conn.id,
    nodeId: paired.nodeId,
    close: conn.close,
  });
  const received: NodeInvocationMessage[] = [];
  stream.send = (m) => {
    received.push(m);
  };
  svc.attachInvocations(conn, { commands }, stream);
  return { conn, stream, received, nodeId: paired.nodeId };
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

describe('NodeService presence and invoke', () => {
  it('runs an invocation on an online node', async () => {
    const svc = service();
    await svc.open();
    const paired = await pair(svc, 'box');
    const node = connect(svc, paired);
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
    await svc.requestPairing(request('waiting'), pairingSocket(testNodeKey()));
    const waiting = await rejection(svc.invoke({ nodeId: 'waiting', command: 'system.info' }));
    expect(waiting.code).toBe('NOT_PAIRED');
    expect(waiting.message).toContain('waiting for pairing approval');

    const paired = await pair(svc, 'box', testNodeKey(), ['system.info', 'system.run']);
    const offline = await rejection(svc.invoke({ nodeId: 'box', command: 'system.info' }));
    expect(offline.code).toBe('NOT_CONNECTED');
    expect(offline.message).toContain('never connected');

    connect(svc, paired, ['system.info', 'system.run', 'extra.cmd']);
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
    const paired = await pair(svc, 'box');
    const node = connect(svc, paired);
    const pending = svc.invoke({ nodeId: 'box', command: 'system.info' });
    node.conn.close(1006, 'gone');
    expect((await rejection(pending)).code).toBe('NODE_DISCONNECTED');
    expect(svc.list()).toEqual([
      expect.objectContaining({ state: 'offline', lastSeenAt: expect.any(Number) }),
    ]);
    expect(events).toContainEqual(expect.objectContaining({ type: 'node.offline', name: 'box' }));
  });

  it('revokes: closes the live socket with 4010 and the key no longer authenticates (NOT_PAIRED)', async () => {
    const svc = service();
    await svc.open();
    const paired = await pair(svc, 'box');
    const node = connect(svc, paired);
    const pending = svc.invoke({ nodeId: 'box', command: 'system.info' });
    const removed = await svc.remove('box');
    expect(removed).toMatchObject({ name: 'box', closedConnections: 1 });
    expect(node.conn.closes).toEqual([
      { code: CloseCode.revoked, reason: expect.stringContaining('removed') },
    ]);
    expect((await rejection(pending)).code).toBe('NODE_DISCONNECTED');
    const challenge = testChallenge();
    expect(() =>
      svc.authenticate({ challenge, ...paired.key.proof(challenge, paired.nodeId) }),
    ).toThrow(expect.objectContaining({ code: 'NOT_PAIRED' }));
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
    const paired = await pair(a, 'box');
    const { nodeId } = paired;
    connect(a, paired);
    await a.close();

    const b = service();
    await b.open();
    expect(b.list()).toEqual([expect.objectContaining({ state: 'offline', nodeId, name: 'box' })]);
    const challenge = testChallenge();
    expect(b.authenticate({ challenge, ...paired.key.proof(challenge, nodeId) })).toEqual({
      role: 'node',
      nodeId,
    });
    expect((await rejection(b.invoke({ nodeId: 'box', command: 'system.info' }))).code).toBe(
      'NOT_CONNECTED',
    );
  });

  it('replaces an older connection of the same node and fails what ran on it', async () => {
    const svc = service();
    await svc.open();
    const paired = await pair(svc, 'box');
    const old = connect(svc, paired);
    const pending = svc.invoke({ nodeId: 'box', command: 'system.info' });
    const fresh = connect(svc, paired);
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
    const paired = await pair(svc, 'up', testNodeKey(), ['system.info']);
    await pair(svc, 'down');
    const up = connect(svc, paired, ['system.info']);
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
    const { nodeId } = await pair(svc, 'box', testNodeKey(), ['system.info']);
    const conn = socket('node', nodeId);
    svc.onConnectionOpened(conn);
    const hello = await svc.hello(conn, { commands: ['system.info', 'new.cmd'] });
    expect(hello).toMatchObject({
      nodeId,
      allowedCommands: ['system.info'],
      notApproved: ['new.cmd'],
    });
    expect(hello.limits.maxResultBytes).toBeGreaterThan(0);
  });
});
