import { readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { createGatewayClient, type GatewayClient } from '@loopgate/client';
import { loadOrCreateNodeKey } from '@loopgate/node';
import {
  NodeDetail,
  type NodePairUpdate,
  NodesInvokeOutput,
  NodesListOutput,
  PendingPairRequest,
} from '@loopgate/protocol';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  makeTempDir,
  nodeKeyClient,
  runCli,
  spawnCli,
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

let gw: TestGateway;
let op: GatewayClient;
const nodes: NodeProcess[] = [];
const clients: GatewayClient[] = [];

beforeAll(async () => {
  gw = await startTestGateway({
    config: { gateway: { nodes: { maxPending: 8, maxPendingPerAddress: 4 } } },
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

async function cli(args: string[]) {
  const result = await runCli([...args, '--url', gw.url, '--token', gw.token], {
    env: await cliEnv(),
  });
  return { ...result, json: () => JSON.parse(result.stdout) as unknown };
}

describe('pairing over the wire, with real node processes and the CLI', { timeout: 60_000 }, () => {
  it('pairs a node process, approves it with the CLI by the code both sides show, invokes system.info with --json, and revokes it', async () => {
    const node = await startNodeProcess(gw, { name: 'cli-box' });
    nodes.push(node);
    const pendingEvent = await node.waitForEvent(
      (e) => e.type === 'pairing.pending',
      'a pairing request',
    );

    const pending = await cli(['nodes', 'pending', '--json']);
    expect(pending.code, pending.stderr).toBe(0);
    const requests = PendingPairRequest.array().parse(pending.json());
    // the code the node printed is the code the gateway derived from the key it received
    expect(pendingEvent.pairingCode).toMatch(/^[A-Z2-7]{4}-[A-Z2-7]{4}$/);
    expect(requests).toContainEqual(
      expect.objectContaining({
        requestId: pendingEvent.requestId,
        pairingCode: pendingEvent.pairingCode,
        name: 'cli-box',
        waiting: true,
      }),
    );
    const human = await cli(['nodes', 'pending']);
    expect(human.stdout).toContain(String(pendingEvent.pairingCode));

    const approve = await cli(['nodes', 'approve', String(pendingEvent.pairingCode), '--json']);
    expect(approve.code, approve.stderr).toBe(0);
    await node.waitForEvent((e) => e.type === 'status' && e.status === 'online', 'online');

    const invoke = await cli(['nodes', 'invoke', 'cli-box', 'system.info', '--json']);
    expect(invoke.code, invoke.stderr).toBe(0);
    const out = NodesInvokeOutput.parse(invoke.json());
    expect(out).toMatchObject({ command: 'system.info', replayed: false });
    expect(out.payload).toMatchObject({
      node: 'cli-box',
      os: { platform: process.platform },
      uptimeSec: expect.any(Number),
    });

    const list = NodesListOutput.parse((await cli(['nodes', 'list', '--json'])).json());
    expect(list).toContainEqual(
      expect.objectContaining({
        name: 'cli-box',
        state: 'online',
        platform: process.platform,
        commands: ['system.info', 'system.notify'],
      }),
    );
    const described = NodeDetail.parse(
      (await cli(['nodes', 'describe', 'cli-box', '--json'])).json(),
    );
    expect(described).toMatchObject({
      state: 'online',
      version: expect.any(String),
      invocations: [],
    });

    // the node's state holds its id, no credential; its private key sits beside it, mode 0600
    const state = JSON.parse(await readFile(join(node.stateDir, 'node-cli-box.json'), 'utf8'));
    expect(Object.keys(state).sort()).toEqual(['gatewayUrl', 'name', 'nodeId', 'version']);
    const keyPath = join(node.stateDir, 'node-cli-box.key');
    expect((await stat(keyPath)).mode & 0o777).toBe(0o600);
    const key = await loadOrCreateNodeKey(keyPath);
    expect(key.pairingCode).toBe(pendingEvent.pairingCode);
    const gatewayState = await readFile(join(gw.stateDir, 'nodes.json'), 'utf8');
    expect(gatewayState).toContain(key.publicKey);
    expect(gatewayState).not.toContain('PRIVATE KEY');

    const remove = await cli(['nodes', 'remove', 'cli-box', '--json']);
    expect(remove.code, remove.stderr).toBe(0);
    expect(remove.json()).toMatchObject({ name: 'cli-box', closedConnections: 1 });
    const stopped = await node.waitForEvent(
      (e) => e.type === 'status' && e.status === 'stopped',
      'stopped',
    );
    expect(stopped.error).toMatchObject({
      code: 'NOT_PAIRED',
      message: expect.stringContaining('removed'),
    });
    expect((await node.exited).code).toBe(1);
    // the removed node's key no longer opens a connection
    const stale = nodeKeyClient(gw.url, key, state.nodeId);
    clients.push(stale);
    expect((await rejection(stale.node.hello.mutate({ commands: [] }))).code).toBe('NOT_PAIRED');
  });

  it('stops cleanly on SIGTERM, while waiting for approval and while online', async () => {
    const waiting = await startNodeProcess(gw, { name: 'sigterm-waiting' });
    nodes.push(waiting);
    await waiting.waitForEvent((e) => e.type === 'pairing.pending', 'a pairing request');
    waiting.child.kill('SIGTERM');
    expect(await waiting.exited).toEqual({ code: 0, signal: null });
    await waitFor(
      async () =>
        (await op.nodes.pair.list.query()).find((p) => p.name === 'sigterm-waiting')?.waiting ===
        false,
      {
        what: 'the request to show nobody waits',
      },
    );
    await op.nodes.pair.reject.mutate({ requestId: 'sigterm-waiting' });

    const online = await startPairedNode(gw, op, { name: 'sigterm-online' });
    nodes.push(online);
    online.child.kill('SIGTERM');
    expect(await online.exited).toEqual({ code: 0, signal: null });
    const listed = (await op.nodes.list.query()).find((n) => n.name === 'sigterm-online');
    expect(listed).toMatchObject({ state: 'offline', lastSeenAt: expect.any(Number) });
  });

  it('closes a revoked node’s live socket within 1 s', async () => {
    const node = await startPairedNode(gw, op, { name: 'revoke-box' });
    nodes.push(node);
    const started = Date.now();
    await op.nodes.pair.remove.mutate({ nodeId: 'revoke-box' });
    await node.waitForEvent(
      (e) => e.type === 'status' && e.status === 'stopped',
      'stopped after revoke',
      1_000,
    );
    expect(Date.now() - started).toBeLessThan(1_000);
    expect((await op.nodes.list.query()).some((n) => n.name === 'revoke-box')).toBe(false);
  });

  it('lets an unpaired node do nothing but request pairing', async () => {
    // Each attempt on its own socket: the first thing an unpaired node does
    // besides asking to be paired gets NOT_PAIRED and closes its socket.
    const unpairedClient = () => {
      const client = nodeKeyClient(gw.url);
      clients.push(client);
      return client;
    };
    const attempts: Array<[string, (client: GatewayClient) => Promise<unknown>]> = [
      ['health', (c) => c.health.query()],
      ['nodes.list', (c) => c.nodes.list.query()],
      [
        'nodes.invoke',
        (c) => c.nodes.invoke.mutate({ nodeId: 'x', command: 'system.info', idempotencyKey: 'k' }),
      ],
      ['nodes.pair.approve', (c) => c.nodes.pair.approve.mutate({ requestId: 'x' })],
      ['node.hello', (c) => c.node.hello.mutate({ commands: ['system.info'] })],
      ['node.result', (c) => c.node.result.mutate({ invocationId: 'inv_x', ok: true, payload: 1 })],
      [
        'node.invocations',
        (c) =>
          new Promise((resolve, reject) => {
            c.node.invocations.subscribe(
              { commands: ['system.info'] },
              { onData: resolve, onError: reject },
            );
          }),
      ],
    ];
    for (const [what, attempt] of attempts) {
      const error = await rejection(attempt(unpairedClient()));
      expect(error.code, what).toBe('NOT_PAIRED');
      expect(error.message, what).toContain('pairing');
    }
    const unpaired = unpairedClient();
    // …but it may ask
    const first = await new Promise<NodePairUpdate>((resolve, reject) => {
      unpaired.node.pair.request.subscribe(
        { name: 'asker', platform: 'test', commands: ['system.info'] },
        { onData: resolve, onError: reject },
      );
    });
    expect(first).toMatchObject({ status: 'pending' });
    await op.nodes.pair.reject.mutate({ requestId: 'asker' });

    // a node socket that proves no key gets nothing at all
    const unproven = createGatewayClient({ url: gw.url, role: 'node', retry: false });
    clients.push(unproven);
    expect((await rejection(unproven.node.hello.mutate({ commands: [] }))).code).toBe(
      'UNAUTHORIZED',
    );
  });

  it('rejects with the CLI: the node process stops, and the node cannot be invoked', async () => {
    const node = await startNodeProcess(gw, { name: 'unwanted' });
    nodes.push(node);
    const pending = await node.waitForEvent(
      (e) => e.type === 'pairing.pending',
      'a pairing request',
    );
    const reject = await cli([
      'nodes',
      'reject',
      String(pending.requestId),
      '--reason',
      'not ours',
    ]);
    expect(reject.code, reject.stderr).toBe(0);
    const stopped = await node.waitForEvent(
      (e) => e.type === 'status' && e.status === 'stopped',
      'stopped',
    );
    expect(stopped.error).toMatchObject({
      code: 'NOT_PAIRED',
      message: expect.stringContaining('not ours'),
    });
    expect((await node.exited).code).toBe(1);
    // the rejected key is gone: running the node again asks with a new key and code
    await expect(stat(join(node.stateDir, 'node-unwanted.key'))).rejects.toMatchObject({
      code: 'ENOENT',
    });
    const error = await rejection(
      op.nodes.invoke.mutate({ nodeId: 'unwanted', command: 'system.info', idempotencyKey: 'r' }),
    );
    expect(error.code).toBe('NOT_PAIRED');
  });

  it('a rejected node host says why once, with advice for whoever runs the node', async () => {
    const stateDir = await makeTempDir();
    const child = spawnCli(['node', 'run', '--name', 'refused-host', '--url', gw.url], {
      env: { HOME: stateDir, LOOPGATE_STATE_DIR: stateDir },
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    let stderr = '';
    child.stderr?.on('data', (d) => {
      stderr += d;
    });
    const request = await waitFor(
      async () => (await op.nodes.pair.list.query()).find((r) => r.name === 'refused-host'),
      { what: 'the pairing request', timeoutMs: 20_000 },
    );
    await op.nodes.pair.reject.mutate({ requestId: request.requestId, reason: 'not this one' });
    expect(await exited).toBe(1);
    expect(stderr.split('not this one').length - 1).toBe(1);
    expect(stderr).toContain('run loopgate node run again to send a new pairing request');
    expect(stderr).not.toContain('pair the node first');
  });

  it('caps pending requests per address', async () => {
    const askers: GatewayClient[] = [];
    const ask = (name: string) => {
      const client = nodeKeyClient(gw.url);
      askers.push(client);
      clients.push(client);
      return new Promise<NodePairUpdate>((resolve, reject) => {
        client.node.pair.request.subscribe(
          { name, platform: 'test', commands: [] },
          { onData: resolve, onError: reject },
        );
      });
    };
    for (let i = 0; i < 4; i++) expect((await ask(`cap-${i}`)).status).toBe('pending');
    const overCap = await rejection(ask('cap-4'));
    expect(overCap.code).toBe('LIMIT_EXCEEDED');
    expect(overCap.message).toContain('maxPendingPerAddress');
    for (let i = 0; i < 4; i++) await op.nodes.pair.reject.mutate({ requestId: `cap-${i}` });
    expect(await op.nodes.pair.list.query()).toEqual([]);
  });

  it('approves only some commands: the rest answer COMMAND_NOT_ALLOWED', async () => {
    const node = await startPairedNode(gw, op, { name: 'partial', commands: ['system.info'] });
    nodes.push(node);
    await expect(
      op.nodes.invoke.mutate({ nodeId: 'partial', command: 'system.info', idempotencyKey: 'p1' }),
    ).resolves.toMatchObject({
      command: 'system.info',
    });
    const error = await rejection(
      op.nodes.invoke.mutate({
        nodeId: 'partial',
        command: 'system.notify',
        params: { message: 'hi' },
        idempotencyKey: 'p2',
      }),
    );
    expect(error.code).toBe('COMMAND_NOT_ALLOWED');
    expect(error.message).toContain('not approved');
    const hello = await node.waitForEvent((e) => e.type === 'hello', 'hello');
    expect(hello).toMatchObject({
      allowedCommands: ['system.info'],
      notApproved: ['system.notify'],
    });
  });
});

describe('a node on another machine, over wss:// with a pinned certificate', {
  timeout: 60_000,
}, () => {
  it('pairs (auto-approved from loopback when configured) and answers invocations', async () => {
    const tlsGateway = await startTestGateway({
      config: { gateway: { tls: { enabled: true }, nodes: { autoApproveLoopback: true } } },
    });
    const fingerprint = tlsGateway.gateway.tlsFingerprint;
    expect(fingerprint).toBeTruthy();
    const url = `wss://127.0.0.1:${tlsGateway.port}`;
    const tlsOp = createGatewayClient({
      url,
      token: tlsGateway.token,
      tlsFingerprint: fingerprint!,
    });
    const node = await startNodeProcess(tlsGateway, {
      name: 'far-box',
      url,
      args: ['--tls-fingerprint', fingerprint!],
    });
    try {
      await node.waitForEvent((e) => e.type === 'paired', 'auto-approval');
      await node.waitForEvent((e) => e.type === 'status' && e.status === 'online', 'online');
      await waitForOnline(tlsOp, 'far-box');
      await expect(
        tlsOp.nodes.invoke.mutate({
          nodeId: 'far-box',
          command: 'system.info',
          idempotencyKey: 'wss',
        }),
      ).resolves.toMatchObject({ payload: { node: 'far-box' } });
    } finally {
      await node.stop();
      await tlsOp.close();
      await tlsGateway.stop();
    }
  });

  it('refuses to talk to a gateway whose certificate does not match the pin', async () => {
    const tlsGateway = await startTestGateway({ config: { gateway: { tls: { enabled: true } } } });
    const wrongPin = `sha256/${'ab'.repeat(32)}`;
    const node = await startNodeProcess(tlsGateway, {
      name: 'pinned-box',
      url: `wss://127.0.0.1:${tlsGateway.port}`,
      args: ['--tls-fingerprint', wrongPin],
    });
    try {
      const stopped = await node.waitForEvent(
        (e) => e.type === 'status' && e.status === 'stopped',
        'a refusal',
      );
      expect(stopped.error).toMatchObject({ code: 'TLS_PIN_MISMATCH' });
      expect((await node.exited).code).not.toBe(0);
      expect(await tlsGateway.gateway.services.nodes.listPending()).toEqual([]);
    } finally {
      await node.stop();
      await tlsGateway.stop();
    }
  });
});

describe('a node host started before its gateway', { timeout: 60_000 }, () => {
  it('keeps trying and comes online once the gateway is up', async () => {
    const gatewayState = await makeTempDir('loopgate-gw-');
    const nodeState = await makeTempDir('loopgate-node-');
    const first = await startTestGateway({ stateDir: gatewayState });
    const firstOp = operatorClient(first);
    const paired = await startPairedNode(first, firstOp, {
      name: 'early-bird',
      stateDir: nodeState,
    });
    await paired.stop();
    await firstOp.close();
    const port = first.port;
    await first.stop();

    const node = await startNodeProcess(first, { name: 'early-bird', stateDir: nodeState });
    nodes.push(node);
    await node.waitForEvent(
      (e) => e.type === 'warning' && String(e.message).includes('retrying'),
      'a retry',
    );
    const second = await startTestGateway({
      stateDir: gatewayState,
      config: { gateway: { port } },
    });
    const secondOp = operatorClient(second);
    try {
      await waitForOnline(secondOp, 'early-bird');
      await expect(
        secondOp.nodes.invoke.mutate({
          nodeId: 'early-bird',
          command: 'system.info',
          idempotencyKey: 'early',
        }),
      ).resolves.toMatchObject({ payload: { node: 'early-bird' } });
    } finally {
      await node.stop();
      await secondOp.close();
      await second.stop();
      await rm(gatewayState, { recursive: true, force: true });
      await rm(nodeState, { recursive: true, force: true });
    }
  });
});
