/**
 * A graceful stop of the whole gateway (`gateway.stop()`, SIGTERM, `q` in the
 * dashboard): what a peer sends once the stop has begun is not run, while
 * the calls already running are answered before the close. Real gateway in
 * this process, a stand-in model speaking the OpenAI streaming format, a
 * bare socket that does not answer the close frame, as a hostile peer need
 * not, and a paired node on the OpenClaw endpoint (row 57 of
 * docs/hardening.md).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CloseCode } from '@loopgate/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createGate,
  type FakeChatCompletions,
  openaiAgentConfig,
  startFakeChatCompletions,
  textReply,
} from '../../src/fakes/index.js';
import {
  openOperatorSocket,
  openRawWebSocket,
  type RawWebSocket,
  resultData,
  sendConnectionParams,
} from '../../src/hardening/index.js';
import { startTestGateway, type TestGateway, waitFor } from '../../src/index.js';
import { newOpenClawDevice, OpenClawSocket } from '../../src/openclaw-client.js';

let model: FakeChatCompletions;
let gw: TestGateway;
beforeAll(async () => {
  model = await startFakeChatCompletions();
  gw = await startTestGateway({ config: { agent: openaiAgentConfig(model) } });
});
afterAll(async () => {
  await gw?.stop();
  await model?.close();
});

function request(id: number | string, method: string, path: string, input: unknown): string {
  return JSON.stringify({ id, method, params: { path, input: { json: input } } });
}

/** Text frames until one satisfies `match` (bounded); returns that one, parsed. */
async function frameWhere(
  peer: RawWebSocket,
  match: (text: string) => boolean,
): Promise<Record<string, unknown>> {
  for (;;) {
    const text = await peer.nextText(10_000);
    if (match(text)) return JSON.parse(text) as Record<string, unknown>;
  }
}

async function tokenNamesOnDisk(): Promise<string[]> {
  const file = JSON.parse(await readFile(join(gw.stateDir, 'operator-tokens.json'), 'utf8')) as {
    tokens: { name: string }[];
  };
  return file.tokens.map((t) => t.name);
}

/** A bare operator socket, authenticated and subscribed to `events`. */
async function subscribedPeer(): Promise<RawWebSocket> {
  const peer = await openRawWebSocket({ port: gw.port, path: '/?connectionParams=1' });
  sendConnectionParams(peer, { token: gw.token });
  peer.sendText(request('events', 'subscription', 'events', {}));
  await frameWhere(peer, (t) => t.includes('"started"'));
  return peer;
}

describe('a graceful stop of the gateway', () => {
  it('row 57: a tokens.create sent right after gateway.stopping does not run: not on disk, not after a restart', async () => {
    const peer = await subscribedPeer();
    try {
      peer.sendText(
        request(1, 'mutation', 'tokens.create', { name: 'before-stop', scope: 'operator.read' }),
      );
      await frameWhere(peer, (t) => t.startsWith('{"id":1,'));
      const stopped = gw.gateway.stop('row 57');
      await frameWhere(peer, (t) => t.includes('"gateway.stopping"'));
      // Right behind the event that says the gateway is going: a write that must not happen.
      peer.sendText(
        request(2, 'mutation', 'tokens.create', { name: 'after-stop', scope: 'operator.admin' }),
      );
      expect((await peer.closed).code).toBe(CloseCode.goingAway);
      await stopped;
    } finally {
      peer.destroy();
    }
    const onDisk = await tokenNamesOnDisk();
    expect(onDisk).toContain('before-stop');
    expect(onDisk).not.toContain('after-stop');
    await gw.restart();
    const admin = await openOperatorSocket(gw.url, gw.token);
    try {
      const listed = await admin.call(1, 'tokens.list');
      const names = resultData<{ tokens: { name: string }[] }>(listed).tokens.map((t) => t.name);
      expect(names).toContain('before-stop');
      expect(names).not.toContain('after-stop');
    } finally {
      admin.ws.close();
      await admin.closed;
    }
  });

  it('row 57: an agent.wait running when the stop began is answered with its result before the close', async () => {
    // Its own start: whatever the test before it left behind, stopped or not.
    await gw.restart();
    const gate = createGate();
    model.enqueue(
      textReply('answered before the close', { gateAfter: { index: 0, gate: gate.promise } }),
    );
    const peer = await subscribedPeer();
    try {
      peer.sendText(request(1, 'mutation', 'agent', { message: 'hi', idempotencyKey: 'stop-1' }));
      const started = await frameWhere(peer, (t) => t.startsWith('{"id":1,'));
      const { runId } = resultData<{ runId: string }>(started as never);
      await model.waitForRequest(1);
      // The wait is running (its answer held by the gated reply) once the health behind it is answered.
      peer.sendText(request(2, 'query', 'agent.wait', { runId, timeoutMs: 30_000 }));
      peer.sendText(request(3, 'query', 'health', null));
      await frameWhere(peer, (t) => t.startsWith('{"id":3,'));
      const stopped = gw.gateway.stop('row 57');
      await frameWhere(peer, (t) => t.includes('"gateway.stopping"'));
      gate.open();
      const waited = await frameWhere(peer, (t) => t.startsWith('{"id":2,'));
      expect(resultData<{ state: string; text: string }>(waited as never)).toMatchObject({
        state: 'completed',
        text: 'answered before the close',
      });
      expect((await peer.closed).code).toBe(CloseCode.goingAway);
      await stopped;
    } finally {
      peer.destroy();
    }
  });
});

describe('a graceful stop on the OpenClaw endpoint', () => {
  let oc: TestGateway;
  const sockets: OpenClawSocket[] = [];
  beforeAll(async () => {
    oc = await startTestGateway({ config: { gateway: { openclaw: { enabled: true } } } });
  });
  afterAll(async () => {
    for (const socket of sockets) socket.close();
    await oc?.stop();
  });

  it('row 57: a paired OpenClaw node’s result sent once the stop began is not taken: the invocation ends NODE_DISCONNECTED, the socket closes 1001', async () => {
    const url = `${oc.url}/openclaw`;
    const device = newOpenClawDevice();
    const nodes = oc.gateway.services.nodes;
    const asking = new OpenClawSocket(url);
    sockets.push(asking);
    await asking.connect({
      role: 'node',
      device,
      displayName: 'stopper',
      commands: ['system.which'],
    });
    const pending = await waitFor(() => nodes.listPending().find((r) => r.name === 'stopper'));
    await nodes.approve(pending.requestId);
    await asking.closed;
    const node = new OpenClawSocket(url);
    sockets.push(node);
    expect((await node.connect({ role: 'node', device, commands: ['system.which'] })).ok).toBe(
      true,
    );
    await waitFor(() => nodes.list().find((n) => n.name === 'stopper' && n.state === 'online'));

    const invoked = nodes
      .invoke({ nodeId: 'stopper', command: 'system.which', params: { bins: ['sh'] } })
      .then(
        (result) => ({ result }),
        (error: unknown) => ({ error }),
      );
    const request = await node.next((f) => f.event === 'node.invoke.request');
    const stopped = oc.gateway.stop('row 57');
    node.sendRaw(
      JSON.stringify({
        type: 'req',
        id: 'late',
        method: 'node.invoke.result',
        params: {
          id: request.payload?.id,
          nodeId: device.id,
          ok: true,
          payloadJSON: '{"bins":{"sh":"/bin/sh"}}',
        },
      }),
    );
    const outcome = await invoked;
    expect(outcome).not.toHaveProperty('result');
    expect(outcome).toMatchObject({ error: { code: 'NODE_DISCONNECTED' } });
    expect((await node.closed).code).toBe(CloseCode.goingAway);
    await stopped;
  });
});
