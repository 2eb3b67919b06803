/**
 * The authorization table over the wire: every procedure the router serves,
 * called as every kind of principal on a real socket, must be allowed or
 * refused exactly as the reviewed copy below says — NOT_PAIRED for an
 * unpaired node, FORBIDDEN for the wrong role or scope, UNAUTHORIZED for a
 * revoked or expired operator token. "Allowed" means the
 * answer is not an authorization error: a call with no input may well fail
 * validation, which proves it got past the door.
 *
 * The expectation is written out here by hand rather than read from
 * `accessTable`, so loosening one entry of the table (or the middleware)
 * fails this test instead of moving its yardstick along with it.
 */
import { createGatewayClient, type GatewayClient } from '@loopgate/client';
import { accessTable, servedProcedures } from '@loopgate/gateway';
import { NodeKey } from '@loopgate/node';
import type { NodePairUpdate, OperatorScope, Principal, ProcedureKind } from '@loopgate/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nodeParams, type OperatorSocket, openOperatorSocket } from '../src/hardening/index.js';
import { nodeKeyClient, startTestGateway, type TestGateway, waitFor } from '../src/index.js';

const AUTHORIZATION_CODES = new Set(['NOT_PAIRED', 'FORBIDDEN', 'UNAUTHORIZED']);
const ADMIN_TOKEN = 'authorization-walk-admin-token-0123456789';

const procedures = Object.entries(servedProcedures()).map(([path, type]) => ({ path, type }));

const READ = [
  'health',
  'status',
  'whoami',
  'events',
  'callMethod',
  'nodes.list',
  'nodes.describe',
  'nodes.pair.list',
  'sessions.list',
  'sessions.history',
];
const WRITE = [
  ...READ,
  'send',
  'agent',
  'agent.wait',
  'agent.get',
  'agent.cancel',
  'agent.events',
  'nodes.invoke',
  'sessions.reset',
];
const ADMIN = [
  ...WRITE,
  'nodes.pair.approve',
  'nodes.pair.reject',
  'nodes.pair.remove',
  'tokens.create',
  'tokens.list',
  'tokens.revoke',
  'auth.rotateToken',
  'logs',
  'sessions.delete',
];

/** Who may call what, by hand: the reviewed copy of `accessTable`. */
const MAY_CALL: Record<Principal, ReadonlySet<string>> = {
  pairing: new Set(['node.pair.request']),
  node: new Set(['node.hello', 'node.invocations', 'node.result', 'node.progress']),
  'operator.read': new Set(READ),
  'operator.write': new Set(WRITE),
  'operator.admin': new Set(ADMIN),
};

let gw: TestGateway;
let op: GatewayClient;
let sockets: Map<Principal, () => Promise<OperatorSocket>>;
/** Credentials that no longer work: one revoked, one expired. */
let deadTokens: { revoked: string; expired: string };
const cleanups: (() => unknown)[] = [];

beforeAll(async () => {
  // A configured token: `auth.rotateToken` then answers CONFLICT instead of
  // disconnecting the walk halfway through. The dead-credential walk fails on
  // purpose once per procedure, well past the loopback lockout threshold.
  gw = await startTestGateway({
    config: {
      gateway: { auth: { token: ADMIN_TOKEN, rateLimit: { loopback: { maxFailures: 10_000 } } } },
    },
  });
  op = createGatewayClient({ url: gw.url, token: ADMIN_TOKEN, retry: false });
  cleanups.push(() => op.close());
  sockets = await socketsByPrincipal();
  deadTokens = await revokedAndExpiredTokens();
});
afterAll(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await gw.stop();
});

/** Pairs a node through the real pairing flow; returns connectionParams that prove it. */
async function pairNode(name: string): Promise<(challenge: string) => Record<string, string>> {
  const key = NodeKey.generate();
  const asker = nodeKeyClient(gw.url, key);
  cleanups.push(() => asker.close());
  const decided = new Promise<NodePairUpdate>((resolve, reject) => {
    asker.node.pair.request.subscribe(
      { name, platform: 'test', commands: ['echo'] },
      { onData: (u) => u.status !== 'pending' && resolve(u), onError: reject },
    );
  });
  await waitFor(async () => (await op.nodes.pair.list.query()).some((p) => p.name === name), {
    what: `the pairing request of ${name}`,
  });
  await op.nodes.pair.approve.mutate({ requestId: name });
  const update = await decided;
  if (update.status !== 'approved') throw new Error(`${name} was not approved: ${update.status}`);
  return nodeParams(key, update.nodeId);
}

/**
 * The socket to try each call on, per principal, each as a real client would
 * connect: one for the whole walk, except that an unpaired node gets a fresh
 * one per call, since the gateway closes it after anything but its pairing request.
 */
async function socketsByPrincipal(): Promise<Map<Principal, () => Promise<OperatorSocket>>> {
  const open = async (
    params: Record<string, string> | ((challenge: string) => Record<string, string>),
  ) => {
    const socket = await openOperatorSocket(gw.url, '', { params });
    cleanups.push(() => socket.ws.terminate());
    return socket;
  };
  const node = await open(await pairNode('walk-node'));
  const read = await open({ token: await scopedToken('walk-read', 'operator.read') });
  const write = await open({ token: await scopedToken('walk-write', 'operator.write') });
  const admin = await open({ token: ADMIN_TOKEN });
  return new Map<Principal, () => Promise<OperatorSocket>>([
    ['pairing', () => open(nodeParams())],
    ['node', async () => node],
    ['operator.read', async () => read],
    ['operator.write', async () => write],
    ['operator.admin', async () => admin],
  ]);
}

async function scopedToken(name: string, scope: OperatorScope, expiresInMs?: number) {
  const created = await op.tokens.create.mutate({
    name,
    scope,
    ...(expiresInMs ? { expiresInMs } : {}),
  });
  return created.token;
}

async function revokedAndExpiredTokens(): Promise<{ revoked: string; expired: string }> {
  const revoked = await scopedToken('walk-revoked', 'operator.admin');
  await op.tokens.revoke.mutate({ name: 'walk-revoked' });
  const expired = await op.tokens.create.mutate({
    name: 'walk-expired',
    scope: 'operator.admin',
    expiresInMs: 1_000,
  });
  await waitFor(() => Date.now() > expired.expiresAt!, { what: 'the token to expire' });
  return { revoked, expired: expired.token };
}

/** Connects with a dead credential and calls `path`: the refusal's code and the close code. */
async function attemptDead(token: string, path: string, type: ProcedureKind) {
  const socket = await openOperatorSocket(gw.url, token);
  cleanups.push(() => socket.ws.terminate());
  socket.ws.send(JSON.stringify({ id: nextId++, method: type, params: { path } }));
  const frame = await socket.next();
  return { code: frame.error?.json.data.gatewayCode, close: (await socket.closed).code };
}

let nextId = 1;

/** Calls `path` with no input; the gateway code of the refusal, or 'ok'. */
async function attempt(socket: OperatorSocket, path: string, type: ProcedureKind): Promise<string> {
  const id = nextId++;
  socket.ws.send(JSON.stringify({ id, method: type, params: { path } }));
  const frame = await socket.answerTo(id);
  if (frame.error) return frame.error.json.data.gatewayCode;
  if (type === 'subscription') socket.ws.send(JSON.stringify({ id, method: 'subscription.stop' }));
  return 'ok';
}

function expectedOutcome(principal: Principal, path: string): string {
  if (MAY_CALL[principal].has(path)) return 'allowed';
  return principal === 'pairing' ? 'NOT_PAIRED' : 'FORBIDDEN';
}

function observedOutcome(outcome: string): string {
  return AUTHORIZATION_CODES.has(outcome) ? outcome : 'allowed';
}

describe('authorization over the wire', () => {
  it('has a reviewed expectation for every procedure the router serves', () => {
    const known = new Set(Object.values(MAY_CALL).flatMap((paths) => [...paths]));
    const unreviewed = procedures.map((p) => p.path).filter((path) => !known.has(path));
    expect(unreviewed, 'add them to accessTable and to MAY_CALL here').toEqual([]);
    expect(procedures.map((p) => p.path).sort()).toEqual(Object.keys(accessTable).sort());
  });

  it('walks every procedure as every principal and gets exactly what the reviewed copy says', async () => {
    const wrong: string[] = [];
    for (const [principal, socketFor] of sockets) {
      for (const { path, type } of procedures) {
        const outcome = await attempt(await socketFor(), path, type);
        const expected = expectedOutcome(principal, path);
        if (observedOutcome(outcome) !== expected)
          wrong.push(`${principal} → ${path}: expected ${expected}, got ${outcome}`);
      }
    }
    expect(wrong).toEqual([]);
  }, 30_000);

  it('refuses every procedure to a revoked and to an expired token with UNAUTHORIZED, then closes 4001', async () => {
    const wrong: string[] = [];
    for (const [kind, token] of Object.entries(deadTokens)) {
      for (const { path, type } of procedures) {
        const { code, close } = await attemptDead(token, path, type);
        if (code !== 'UNAUTHORIZED' || close !== 4001)
          wrong.push(`${kind} → ${path}: expected UNAUTHORIZED/4001, got ${code}/${close}`);
      }
    }
    expect(wrong).toEqual([]);
  }, 60_000);

  it('checks callMethod against the entry of the method it names, not its own', async () => {
    const wrong: string[] = [];
    for (const [principal, socketFor] of sockets) {
      for (const { path, type } of procedures) {
        if (type === 'subscription' || path === 'callMethod') continue;
        const id = nextId++;
        const frame = await (await socketFor()).call(
          id,
          'callMethod',
          { method: path },
          'mutation',
        );
        const outcome = frame.error ? frame.error.json.data.gatewayCode : 'ok';
        // The door itself is the table's first word: only operators get through it.
        const expected = MAY_CALL[principal].has('callMethod')
          ? expectedOutcome(principal, path)
          : expectedOutcome(principal, 'callMethod');
        if (observedOutcome(outcome) !== expected)
          wrong.push(`${principal} → callMethod(${path}): expected ${expected}, got ${outcome}`);
      }
    }
    expect(wrong).toEqual([]);
  }, 30_000);
});
