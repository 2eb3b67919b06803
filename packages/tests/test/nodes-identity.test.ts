/**
 * Node identity over real sockets and processes: a node proves its Ed25519
 * key on every connect, operators approve by the pairing code both sides
 * show, and nothing a node keeps or sends can be replayed by someone else.
 */
import { access, chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { GatewayClient } from '@loopgate/client';
import { createNode, loadOrCreateNodeKey, NodeKey, nodeKeyPath } from '@loopgate/node';
import { NODE_CHALLENGE_HEADER, type NodePairUpdate } from '@loopgate/protocol';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import {
  makeTempDir,
  nodeKeyClient,
  runCli,
  startTestGateway,
  type TestGateway,
  waitFor,
} from '../src/index.js';
import { rejection } from '../src/rejection.js';
import {
  cliEnv,
  type NodeProcess,
  operatorClient,
  startNodeProcess,
  startPairedNode,
  waitForOnline,
} from './nodes-harness.js';

const GRACE_MS = 2_000;

let gw: TestGateway;
let op: GatewayClient;
const nodes: NodeProcess[] = [];
const clients: GatewayClient[] = [];

beforeAll(async () => {
  gw = await startTestGateway({
    config: { gateway: { nodes: { pendingGraceMs: GRACE_MS } } },
  });
  op = operatorClient(gw);
});
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.stop()));
  await Promise.all(clients.splice(0).map((c) => c.close()));
});
afterAll(async () => {
  await op.close();
  await gw.stop();
});

/** A client that proves `key` (as a paired node when `nodeId` is given). */
function nodeClient(key: NodeKey, nodeId?: string): GatewayClient {
  const client = nodeKeyClient(gw.url, key, nodeId);
  clients.push(client);
  return client;
}

/** Asks to pair as `name` with `key`; `updates` fills as the gateway answers. */
function askToPair(client: GatewayClient, name: string) {
  const updates: NodePairUpdate[] = [];
  const ended = new Promise<Error | undefined>((resolve) => {
    client.node.pair.request.subscribe(
      { name, platform: 'test', commands: ['system.info'] },
      {
        onData: (u) => updates.push(u),
        onError: (e) => resolve(e),
        onComplete: () => resolve(undefined),
      },
    );
  });
  return { updates, ended };
}

async function cli(args: string[]) {
  return runCli([...args, '--url', gw.url, '--token', gw.token], { env: await cliEnv() });
}

describe('node identity', { timeout: 60_000 }, () => {
  it('refuses a node presenting the right name or id with the wrong key', async () => {
    const real = await startPairedNode(gw, op, { name: 'laptop-id' });
    nodes.push(real);

    // the paired node's id, proven with another key
    const impostor = NodeKey.generate();
    const claiming = nodeClient(impostor, real.nodeId);
    const refused = await rejection(claiming.node.hello.mutate({ commands: [] }));
    expect(refused.code).toBe('UNAUTHORIZED');
    expect(refused.message).toContain('laptop-id');

    // the paired node's name, asked for with another key
    const asking = askToPair(nodeClient(impostor), 'laptop-id');
    expect(await asking.ended).toMatchObject({ code: 'CONFLICT' });

    // the real node is untouched
    await waitForOnline(op, 'laptop-id');
  });

  it('a squatter that asked first cannot be approved by name once the real node has asked', async () => {
    const squatter = askToPair(nodeClient(NodeKey.generate()), 'laptop');
    await waitFor(() => squatter.updates.length > 0, { what: 'the squatter pending' });
    const real = await startNodeProcess(gw, { name: 'laptop' });
    nodes.push(real);
    const realPending = await real.waitForEvent((e) => e.type === 'pairing.pending', 'pending');

    const byName = await cli(['nodes', 'approve', 'laptop']);
    expect(byName.code, byName.stderr).toBe(1);
    expect(byName.stderr).toContain('CONFLICT');
    const squatterCode = (squatter.updates[0] as { pairingCode: string }).pairingCode;
    expect(byName.stderr).toContain(squatterCode);
    expect(byName.stderr).toContain(String(realPending.pairingCode));

    const pending = await cli(['nodes', 'pending']);
    expect(pending.stdout).toContain('laptop (contested)');

    const byCode = await cli(['nodes', 'approve', String(realPending.pairingCode)]);
    expect(byCode.code, byCode.stderr).toBe(0);
    await waitForOnline(op, 'laptop');
    await squatter.ended;
    expect(squatter.updates.at(-1)).toMatchObject({ status: 'rejected' });
  });

  it('a pending request disappears when its socket closes; a node reconnecting with its key within the grace keeps its place', async () => {
    const key = NodeKey.generate();
    const first = nodeClient(key);
    const asked = askToPair(first, 'flaky');
    await waitFor(() => asked.updates.length > 0, { what: 'pending' });
    const { requestId } = asked.updates[0] as { requestId: string };

    // reconnect at once: same request
    await first.close();
    const again = askToPair(nodeClient(key), 'flaky');
    await waitFor(() => again.updates.length > 0, { what: 'pending again' });
    expect(again.updates[0]).toMatchObject({ status: 'pending', requestId });

    // gone for good: the request leaves the list after the grace
    await clients.at(-1)!.close();
    await waitFor(
      async () => !(await op.nodes.pair.list.query()).some((r) => r.requestId === requestId),
      { what: 'the request of a node that went away to disappear', timeoutMs: 10_000 },
    );
  });

  it('removal: the live socket closes within 1 s and the next connect gets NOT_PAIRED', async () => {
    const node = await startPairedNode(gw, op, { name: 'removed-id' });
    nodes.push(node);
    const started = Date.now();
    await op.nodes.pair.remove.mutate({ nodeId: 'removed-id' });
    await node.waitForEvent((e) => e.type === 'status' && e.status === 'stopped', 'stop', 1_000);
    expect(Date.now() - started).toBeLessThan(1_000);

    const own = await loadOrCreateNodeKey(join(node.stateDir, 'node-removed-id.key'));
    const back = nodeClient(own, node.nodeId);
    expect((await rejection(back.node.hello.mutate({ commands: [] }))).code).toBe('NOT_PAIRED');
  });

  it('a node started on a state dir other users may write refuses to start: no key made, nothing asked of the gateway', async () => {
    const stateDir = await makeTempDir('loopgate-node-open-');
    await chmod(stateDir, 0o777);
    const node = createNode({
      name: 'open-dir',
      url: gw.url,
      stateDir,
      commands: { 'x.echo': (params: unknown) => params },
    });
    // Without the check the node would ask to pair and wait for an operator: bounded here.
    let timer: NodeJS.Timeout | undefined;
    const unanswered = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error('start() neither refused nor failed in 5 s')),
        5_000,
      );
    });
    const refused = await rejection(Promise.race([node.start(), unanswered])).finally(() => {
      clearTimeout(timer);
      return node.stop();
    });
    expect(refused).toMatchObject({ code: 'BAD_REQUEST' });
    expect(refused.message).toContain(`refusing the node's state dir: ${stateDir}`);
    expect(refused.message).toMatch(/writable by other users \(mode 0777\).*chmod 700/);
    await expect(access(nodeKeyPath(stateDir, 'open-dir'))).rejects.toThrow();
    expect((await op.nodes.pair.list.query()).map((r) => r.name)).not.toContain('open-dir');
  });

  it('a copied token file of an earlier version is useless, and the node drops it from disk', async () => {
    // presenting an old-style token over the wire
    const refused = await new Promise<{ code: number; reason: string }>((resolve, reject) => {
      const ws = new WebSocket(`${gw.url}?connectionParams=1`);
      let challenge = '';
      ws.once('upgrade', (res) => {
        challenge = String(res.headers[NODE_CHALLENGE_HEADER]);
      });
      ws.once('open', () => {
        expect(challenge).toMatch(/^[A-Za-z0-9_-]{43}$/);
        ws.send(
          JSON.stringify({
            method: 'connectionParams',
            data: { role: 'node', nodeToken: `lgn_${'x'.repeat(43)}` },
          }),
        );
      });
      ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() }));
      ws.once('error', reject);
    });
    expect(refused.code).toBe(4001);
    expect(refused.reason).toContain('UNAUTHORIZED');

    // a node started on a version-1 state file rewrites it without the token
    const stateDir = await makeTempDir('loopgate-node-');
    await mkdir(stateDir, { recursive: true });
    const statePath = join(stateDir, 'node-old-box.json');
    const token = `lgn_${'y'.repeat(43)}`;
    await writeFile(
      statePath,
      JSON.stringify({ version: 1, name: 'old-box', nodeId: 'nd_old', nodeToken: token }),
    );
    const node = await startNodeProcess(gw, { name: 'old-box', stateDir });
    nodes.push(node);
    await node.waitForEvent((e) => e.type === 'pairing.pending', 'asks to pair again');
    const rewritten = await readFile(statePath, 'utf8');
    expect(rewritten).not.toContain(token);
    expect(JSON.parse(rewritten)).toEqual({ version: 2, name: 'old-box' });
  });
});
