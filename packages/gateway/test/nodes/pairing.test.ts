import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type GatewayEventInput,
  LoopgateConfig,
  type LoopgateConfigInput,
  type NodePairUpdate,
  pairingCodeOf,
} from '@loopgate/protocol';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NodeService } from '../../src/nodes/index.js';
import { rejection } from '../rejection.js';
import { pairingSocket, testChallenge, testNodeKey } from './node-sockets.js';

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
  const svc = new NodeService({
    config: LoopgateConfig.parse({ gateway: { nodes } }),
    stateDir,
    events: { emit: (e) => events.push(e) },
    log: pino({ level: 'silent' }),
  });
  services.push(svc);
  return svc;
}

async function opened(nodes?: Parameters<typeof service>[0]): Promise<NodeService> {
  const svc = service(nodes);
  await svc.open();
  return svc;
}

const pendingOf = (update: NodePairUpdate) =>
  update as Extract<NodePairUpdate, { status: 'pending' }>;

beforeEach(async () => {
  stateDir = await mkdtemp(join(tmpdir(), 'lg-pairing-'));
  events = [];
});
afterEach(async () => {
  for (const svc of services) await svc.close();
  services = [];
  await rm(stateDir, { recursive: true, force: true });
});

describe('pairing', () => {
  it('files a request under the proven key with its pairing code, and approval stores only the public key', async () => {
    const svc = await opened();
    const key = testNodeKey();
    const session = await svc.requestPairing(request('box'), pairingSocket(key));
    const first = pendingOf(session.first);
    expect(first).toMatchObject({ status: 'pending', pairingCode: pairingCodeOf(key.publicKey) });
    expect(first.pairingCode).toMatch(/^[A-Z2-7]{4}-[A-Z2-7]{4}$/);
    expect(svc.listPending()).toEqual([
      expect.objectContaining({ name: 'box', pairingCode: first.pairingCode, contested: false }),
    ]);
    expect(events).toContainEqual(
      expect.objectContaining({ type: 'node.pair.requested', pairingCode: first.pairingCode }),
    );

    const approved = await svc.approve(first.pairingCode.toLowerCase().replace('-', ''), [
      'system.info',
    ]);
    expect(await session.decision).toEqual({
      status: 'approved',
      nodeId: approved.nodeId,
      name: 'box',
      approvedCommands: ['system.info'],
    });
    const file = JSON.parse(await readFile(join(stateDir, 'nodes.json'), 'utf8'));
    expect(file).toMatchObject({ version: 2, nodes: [{ publicKey: key.publicKey }] });
    expect((await stat(join(stateDir, 'nodes.json'))).mode & 0o777).toBe(0o600);
    expect(svc.list()).toEqual([
      expect.objectContaining({ state: 'offline', pairingCode: first.pairingCode }),
    ]);
  });

  it('lets a node that dropped rejoin its request with the same key within the grace (no duplicate)', async () => {
    const svc = await opened({ pendingGraceMs: 60_000 });
    const key = testNodeKey();
    const conn = pairingSocket(key);
    const first = await svc.requestPairing(request('box'), conn);
    svc.onConnectionClosed(conn);
    const again = await svc.requestPairing(request('box'), pairingSocket(key));
    expect(again.first).toEqual(first.first);
    expect(svc.listPending()).toEqual([expect.objectContaining({ waiting: true })]);
  });

  it('withdraws a request once its socket closed and the grace ran out', async () => {
    const svc = await opened({ pendingGraceMs: 20 });
    const conn = pairingSocket(testNodeKey());
    const session = await svc.requestPairing(request('box'), conn);
    conn.close(1006, 'gone');
    svc.onConnectionClosed(conn);
    await expect(session.decision).resolves.toEqual({ status: 'expired' });
    expect(svc.listPending()).toEqual([]);
    expect(events).toContainEqual(
      expect.objectContaining({ type: 'node.pair.resolved', decision: 'withdrawn' }),
    );
  });

  it('tells a node approved while it was away its node id, even after a gateway restart', async () => {
    const a = await opened();
    const key = testNodeKey();
    const conn = pairingSocket(key);
    const session = await a.requestPairing(request('box'), conn);
    const { nodeId } = await a.approve(pendingOf(session.first).requestId);
    await a.close();
    const b = await opened();
    const back = await b.requestPairing(request('box'), pairingSocket(key));
    expect(back.first).toMatchObject({ status: 'approved', nodeId, name: 'box' });
    expect(back.decision).toBeUndefined();
  });

  it('rejects, and tells a node that asks again with the same key that it was rejected', async () => {
    const svc = await opened();
    const key = testNodeKey();
    const session = await svc.requestPairing(request('box'), pairingSocket(key));
    svc.reject('box', 'not ours');
    await expect(session.decision).resolves.toEqual({ status: 'rejected', reason: 'not ours' });
    const again = await svc.requestPairing(request('box'), pairingSocket(key));
    expect(again.first).toEqual({ status: 'rejected', reason: 'not ours' });
    expect(svc.listPending()).toHaveLength(0);
  });

  it('expires pending requests after pendingTtlMs', async () => {
    const svc = await opened({ pendingTtlMs: 30 });
    const session = await svc.requestPairing(request('box'), pairingSocket(testNodeKey()));
    await expect(session.decision).resolves.toEqual({ status: 'expired' });
    expect(svc.listPending()).toHaveLength(0);
    expect(events).toContainEqual(
      expect.objectContaining({ type: 'node.pair.resolved', decision: 'expired' }),
    );
  });

  it('caps pending requests at maxPending in total and maxPendingPerAddress per address', async () => {
    const svc = await opened({ maxPending: 3, maxPendingPerAddress: 2 });
    const from = (remoteAddress: string) => pairingSocket(testNodeKey(), { remoteAddress });
    await svc.requestPairing(request('a'), from('192.0.2.1'));
    await svc.requestPairing(request('b'), from('192.0.2.1'));
    const perAddress = await rejection(svc.requestPairing(request('c'), from('192.0.2.1')));
    expect(perAddress.code).toBe('LIMIT_EXCEEDED');
    expect(perAddress.message).toContain('maxPendingPerAddress');
    await svc.requestPairing(request('d'), from('192.0.2.2'));
    const total = await rejection(svc.requestPairing(request('e'), from('192.0.2.3')));
    expect(total.code).toBe('LIMIT_EXCEEDED');
    expect(total.message).toContain('maxPending =');
  });

  it('refuses a request for a name that is already paired', async () => {
    const svc = await opened();
    const session = await svc.requestPairing(request('box'), pairingSocket(testNodeKey()));
    await svc.approve(pendingOf(session.first).requestId);
    const error = await rejection(svc.requestPairing(request('BOX'), pairingSocket(testNodeKey())));
    expect(error.code).toBe('CONFLICT');
    expect(error.message).toContain('loopgate nodes remove');
  });

  it('a squatter cannot be approved by name once the real node asked: CONFLICT names both requests', async () => {
    const svc = await opened({ pendingGraceMs: 10 });
    const squatterConn = pairingSocket(testNodeKey());
    const squatter = pendingOf((await svc.requestPairing(request('laptop'), squatterConn)).first);
    const real = await svc.requestPairing(request('laptop'), pairingSocket(testNodeKey()));
    const realPending = pendingOf(real.first);

    const byName = await rejection(svc.approve('laptop'));
    expect(byName.code).toBe('CONFLICT');
    for (const r of [squatter, realPending]) {
      expect(byName.message).toContain(r.requestId);
      expect(byName.message).toContain(r.pairingCode);
    }
    expect(svc.listPending().every((r) => r.contested)).toBe(true);

    // the squatter going away does not make the name safe to approve by name
    squatterConn.close(1006, 'gone');
    svc.onConnectionClosed(squatterConn);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(svc.listPending()).toHaveLength(1);
    expect((await rejection(svc.approve('laptop'))).code).toBe('CONFLICT');

    await svc.approve(realPending.pairingCode);
    await expect(real.decision).resolves.toMatchObject({ status: 'approved', name: 'laptop' });
  });

  it('rejects the other keys that asked for a name once one of them is approved', async () => {
    const svc = await opened();
    const a = await svc.requestPairing(request('laptop'), pairingSocket(testNodeKey()));
    const b = await svc.requestPairing(request('laptop'), pairingSocket(testNodeKey()));
    await svc.approve(pendingOf(a.first).requestId);
    await expect(b.decision).resolves.toMatchObject({ status: 'rejected' });
    expect(svc.listPending()).toEqual([]);
  });

  it('auto-approves loopback requests when gateway.nodes.autoApproveLoopback is on', async () => {
    const svc = await opened({ autoApproveLoopback: true });
    const remote = await svc.requestPairing(request('far'), pairingSocket(testNodeKey()));
    expect(remote.first.status).toBe('pending');
    const local = await svc.requestPairing(
      request('near'),
      pairingSocket(testNodeKey(), { isLoopback: true }),
    );
    expect(local.first).toMatchObject({ status: 'approved', name: 'near' });
  });

  it('refuses a corrupt nodes.json instead of silently unpairing everything', async () => {
    await writeFile(join(stateDir, 'nodes.json'), '{"version":2,"nodes":[{"nodeId":1}]}');
    const error = await rejection(service().open());
    expect(error.message).toMatch(/nodes\.json .*invalid/);
    expect(error.message).not.toContain(stateDir);
  });
});

describe('node authentication', () => {
  async function pairedBox(svc: NodeService) {
    const key = testNodeKey();
    const session = await svc.requestPairing(request('box'), pairingSocket(key));
    const { nodeId } = await svc.approve(pendingOf(session.first).requestId);
    return { key, nodeId };
  }

  it('accepts the paired key signing this challenge for its node id', async () => {
    const svc = await opened();
    const { key, nodeId } = await pairedBox(svc);
    const challenge = testChallenge();
    expect(svc.authenticate({ challenge, ...key.proof(challenge, nodeId) })).toEqual({
      role: 'node',
      nodeId,
    });
  });

  it('refuses the right node id with the wrong key', async () => {
    const svc = await opened();
    const { nodeId } = await pairedBox(svc);
    const challenge = testChallenge();
    const impostor = testNodeKey();
    expect(() => svc.authenticate({ challenge, ...impostor.proof(challenge, nodeId) })).toThrow(
      expect.objectContaining({ code: 'UNAUTHORIZED', message: expect.stringContaining('"box"') }),
    );
  });

  it('refuses a signature replayed from another challenge, or made for pairing', async () => {
    const svc = await opened();
    const { key, nodeId } = await pairedBox(svc);
    const old = key.proof(testChallenge(), nodeId);
    expect(() => svc.authenticate({ ...old, challenge: testChallenge() })).toThrow(
      expect.objectContaining({ code: 'UNAUTHORIZED' }),
    );
    const challenge = testChallenge();
    const pairingProof = key.proof(challenge);
    expect(() => svc.authenticate({ challenge, ...pairingProof, nodeId })).toThrow(
      expect.objectContaining({ code: 'UNAUTHORIZED' }),
    );
  });

  it('answers NOT_PAIRED for a node paired with a token before node keys', async () => {
    await writeFile(
      join(stateDir, 'nodes.json'),
      JSON.stringify({
        version: 1,
        nodes: [
          {
            nodeId: 'nd_old',
            name: 'old',
            platform: 'linux',
            approvedCommands: [],
            declaredCommands: [],
            tokenHash: 'a'.repeat(64),
            claimKeyHash: null,
            pairedAt: 1,
            lastSeenAt: null,
          },
        ],
      }),
    );
    const svc = await opened();
    const challenge = testChallenge();
    expect(() =>
      svc.authenticate({ challenge, ...testNodeKey().proof(challenge, 'nd_old') }),
    ).toThrow(
      expect.objectContaining({ code: 'NOT_PAIRED', message: expect.stringContaining('re-pair') }),
    );
  });
});

describe('pairing: what it logs and announces, and its refusals', () => {
  type LogLine = { msg: string; [key: string]: unknown };
  let logs: LogLine[] = [];
  let emitted: GatewayEventInput[] = [];
  let onEvent: (event: GatewayEventInput) => void = () => {};

  async function logged(nodes: NonNullable<LoopgateConfigInput['gateway']>['nodes'] = {}) {
    logs = [];
    emitted = [];
    const svc = new NodeService({
      config: LoopgateConfig.parse({ gateway: { nodes } }),
      stateDir,
      events: {
        emit: (e) => {
          emitted.push(e);
          onEvent(e);
        },
      },
      log: pino({ level: 'info' }, { write: (line: string) => logs.push(JSON.parse(line)) }),
    });
    services.push(svc);
    await svc.open();
    return svc;
  }
  const pick = (line: LogLine | undefined) => {
    if (!line) return undefined;
    const { level: _l, time: _t, pid: _p, hostname: _h, ...rest } = line;
    return rest;
  };
  afterEach(() => {
    onEvent = () => {};
  });

  it('logs and announces a request, an approval and a rejection, with their ids', async () => {
    const svc = await logged();
    const key = testNodeKey();
    const asked = pendingOf((await svc.requestPairing(request('box'), pairingSocket(key))).first);
    expect(pick(logs.find((l) => l.msg === 'pairing requested'))).toEqual({
      msg: 'pairing requested',
      requestId: asked.requestId,
      name: 'box',
      pairingCode: asked.pairingCode,
    });
    expect(emitted).toEqual([
      {
        type: 'node.pair.requested',
        requestId: asked.requestId,
        pairingCode: asked.pairingCode,
        name: 'box',
        platform: 'linux',
        commands: ['system.info', 'fs.read'],
      },
    ]);
    const { nodeId } = await svc.approve(asked.requestId);
    expect(pick(logs.find((l) => l.msg === 'node paired'))).toEqual({
      msg: 'node paired',
      nodeId,
      name: 'box',
    });
    expect(emitted.at(-1)).toEqual({
      type: 'node.pair.resolved',
      requestId: asked.requestId,
      decision: 'approved',
      nodeId,
    });

    const other = pendingOf(
      (await svc.requestPairing(request('other'), pairingSocket(testNodeKey()))).first,
    );
    expect(svc.reject(other.pairingCode)).toEqual({ requestId: other.requestId, name: 'other' });
    expect(pick(logs.find((l) => l.msg === 'pairing rejected'))).toEqual({
      msg: 'pairing rejected',
      requestId: other.requestId,
      name: 'other',
    });
    expect(emitted.at(-1)).toEqual({
      type: 'node.pair.resolved',
      requestId: other.requestId,
      decision: 'rejected',
    });
  });

  it('logs a request that expired or was withdrawn, saying which', async () => {
    const svc = await logged({ pendingTtlMs: 30, pendingGraceMs: 10 });
    const expiring = await svc.requestPairing(request('late'), pairingSocket(testNodeKey()));
    await expiring.decision;
    const expiredId = pendingOf(expiring.first).requestId;
    expect(pick(logs.find((l) => l.msg === 'pairing request expired'))).toEqual({
      msg: 'pairing request expired',
      requestId: expiredId,
      name: 'late',
    });
    expect(emitted.at(-1)).toEqual({
      type: 'node.pair.resolved',
      requestId: expiredId,
      decision: 'expired',
    });
    const conn = pairingSocket(testNodeKey());
    const leaving = await svc.requestPairing(request('gone'), conn);
    conn.close(1006, 'gone');
    svc.onConnectionClosed(conn);
    await leaving.decision;
    expect(pick(logs.find((l) => l.msg === 'pairing request withdrawn'))).toEqual({
      msg: 'pairing request withdrawn',
      requestId: pendingOf(leaving.first).requestId,
      name: 'gone',
    });
  });

  it('tells the rival of an approved name why it was rejected', async () => {
    const svc = await logged();
    const a = await svc.requestPairing(request('laptop'), pairingSocket(testNodeKey()));
    const b = await svc.requestPairing(request('laptop'), pairingSocket(testNodeKey()));
    await svc.approve(pendingOf(a.first).requestId);
    await expect(b.decision).resolves.toEqual({
      status: 'rejected',
      reason: 'another node was approved as "laptop"',
    });
  });

  it('refuses a request from a socket that proved no key', async () => {
    const svc = await logged();
    const conn = { ...pairingSocket(testNodeKey()), nodeKey: undefined };
    const error = await rejection(svc.requestPairing(request('box'), conn));
    expect(error.code).toBe('BAD_REQUEST');
    expect(error.message).toBe(
      'a pairing request needs a node key: connect with nodeKey and nodeSignature (update the node)',
    );
    expect(svc.listPending()).toEqual([]);
  });

  it('names an unknown request, and lists the ambiguous ones in the details', async () => {
    const svc = await logged();
    const unknown = await rejection(svc.approve('nobody'));
    expect(unknown.code).toBe('NOT_FOUND');
    expect(unknown.message).toBe(
      'no pending pairing request "nobody" (see loopgate nodes pending)',
    );
    const a = pendingOf(
      (await svc.requestPairing(request('twin'), pairingSocket(testNodeKey()))).first,
    );
    const b = pendingOf(
      (await svc.requestPairing(request('twin'), pairingSocket(testNodeKey()))).first,
    );
    const ambiguous = await rejection(svc.approve('twin'));
    expect(ambiguous.message).toMatch(
      /^more than one node asked to pair as "twin": compare the pairing code each node prints and use its request id or code — /,
    );
    expect(ambiguous.message).toContain(
      `${a.requestId} (code ${a.pairingCode}, from 192.0.2.7), ${b.requestId} (code ${b.pairingCode}, from 192.0.2.7)`,
    );
    expect(ambiguous.details).toEqual({
      requests: [
        { requestId: a.requestId, pairingCode: a.pairingCode },
        { requestId: b.requestId, pairingCode: b.pairingCode },
      ],
    });
    expect(() => svc.reject('twin')).toThrow(/more than one node asked to pair as "twin"/);
  });

  it('describes a pending request found by id, code or name', async () => {
    const svc = await logged();
    const asked = pendingOf(
      (await svc.requestPairing(request('box'), pairingSocket(testNodeKey()))).first,
    );
    for (const ref of [asked.requestId, asked.pairingCode, 'BOX'])
      expect(svc.describe(ref), ref).toMatchObject({
        requestId: asked.requestId,
        state: 'pending',
      });
  });

  it('stores the version only when the node sent one', async () => {
    const svc = await logged();
    const bare = { name: 'bare', platform: 'linux', commands: ['system.info'] };
    const asked = pendingOf((await svc.requestPairing(bare, pairingSocket(testNodeKey()))).first);
    await svc.approve(asked.requestId);
    const versioned = pendingOf(
      (await svc.requestPairing(request('versioned'), pairingSocket(testNodeKey()))).first,
    );
    await svc.approve(versioned.requestId);
    const saved = JSON.parse(await readFile(join(stateDir, 'nodes.json'), 'utf8')) as {
      nodes: Record<string, unknown>[];
    };
    const byName = Object.fromEntries(saved.nodes.map((n) => [n.name, n]));
    expect(byName.bare).not.toHaveProperty('version');
    expect(byName.versioned).toHaveProperty('version', '1.0.0');
  });

  it('tells a node whose approval was withdrawn before it heard of it', async () => {
    const svc = await logged();
    onEvent = (event) => {
      if (event.type === 'node.pair.resolved' && event.decision === 'approved' && event.nodeId)
        void svc.remove(event.nodeId);
    };
    const session = await svc.requestPairing(request('box'), pairingSocket(testNodeKey()));
    await svc.approve(pendingOf(session.first).requestId);
    await expect(session.decision).resolves.toEqual({
      status: 'rejected',
      reason: 'the approval was withdrawn',
    });
  });

  it('counts pending requests, and gives approved nodes nd- ids', async () => {
    const svc = await logged();
    const asked = pendingOf(
      (await svc.requestPairing(request('box'), pairingSocket(testNodeKey()))).first,
    );
    expect(svc.counts()).toMatchObject({ pending: 1, paired: 0 });
    const { nodeId } = await svc.approve(asked.requestId);
    expect(nodeId).toMatch(/^nd[-_]/);
    expect(svc.counts()).toMatchObject({ pending: 0, paired: 1 });
  });

  it('a socket that closed before its request was filed does not keep it alive', async () => {
    const svc = await logged({ pendingGraceMs: 20 });
    const conn = pairingSocket(testNodeKey());
    conn.close(1006, 'gone');
    const session = await svc.requestPairing(request('box'), conn);
    await expect(session.decision).resolves.toEqual({ status: 'expired' });
    expect(svc.listPending()).toEqual([]);
  });

  it('ends pending requests as expired when the gateway stops', async () => {
    const svc = await logged();
    const session = await svc.requestPairing(request('box'), pairingSocket(testNodeKey()));
    await svc.close();
    await expect(session.decision).resolves.toEqual({ status: 'expired' });
  });
});
