/**
 * The OpenClaw endpoint (docs/openclaw-compat.md) under hostile frames, over
 * real sockets to a real gateway: off by default; bounded before decoding;
 * the connect deadline; device signatures bound to this socket's challenge
 * and counted by the lockout; the authorization table per role; and errors
 * mapped to OpenClaw's codes and back.
 */
import { GatewayError, LoopgateConfig } from '@loopgate/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openOperatorSocket, resultData } from '../../src/hardening/index.js';
import { runCli, startTestGateway, type TestGateway, waitFor } from '../../src/index.js';
import {
  connectParams,
  newOpenClawDevice,
  type OpenClawDevice,
  OpenClawSocket,
} from '../../src/openclaw-client.js';

const sockets: OpenClawSocket[] = [];
function open(url: string): OpenClawSocket {
  const socket = new OpenClawSocket(url);
  sockets.push(socket);
  return socket;
}
afterAll(() => {
  for (const s of sockets) s.close();
});

describe('OpenClaw endpoint off (the default)', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway();
  });
  afterAll(() => gw.stop());

  it('is off unless enabled: /openclaw is the tRPC door, no challenge, the connect frame is refused', async () => {
    expect(LoopgateConfig.parse({}).gateway.openclaw.enabled).toBe(false);
    const socket = open(`${gw.url}/openclaw`);
    await new Promise((resolve) => socket.ws.once('open', resolve));
    socket.sendRaw(JSON.stringify({ type: 'req', id: '1', method: 'connect', params: {} }));
    const closed = await socket.closed;
    expect(closed.code).toBe(4001);
    expect(socket.frames.some((f) => f.event === 'connect.challenge')).toBe(false);
    expect((await gw.gateway.services.status({ deep: false })).openclaw).toBeUndefined();
  });

  it('refuses a path that is not one (`/`, a query) in the config', () => {
    for (const path of ['/', 'openclaw', '/openclaw?x=1', '/a b']) {
      expect(
        LoopgateConfig.safeParse({ gateway: { openclaw: { enabled: true, path } } }).success,
      ).toBe(false);
    }
  });
});

describe('OpenClaw endpoint on', () => {
  let gw: TestGateway;
  let url: string;
  beforeAll(async () => {
    gw = await startTestGateway({
      config: {
        gateway: {
          openclaw: { enabled: true },
          limits: { authTimeoutMs: 1_500 },
          auth: { rateLimit: { loopback: { maxFailures: 200 } } },
        },
      },
    });
    url = `${gw.url}/openclaw`;
  });
  afterAll(() => gw.stop());

  it('`loopgate status` says the endpoint is on, and where', async () => {
    const out = await runCli(['status', '--url', gw.url], {
      env: { LOOPGATE_GATEWAY_TOKEN: gw.token },
      timeoutMs: 30_000,
    });
    expect(out.code, out.stderr).toBe(0);
    expect(out.stdout).toContain(`openclaw endpoint: on → ${gw.url}/openclaw`);
  });

  it('opens with connect.challenge: a fresh nonce and the gateway time', async () => {
    const a = await open(url).challenge();
    const b = await open(url).challenge();
    expect(a.nonce).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(a.nonce).not.toBe(b.nonce);
    expect(Math.abs(a.ts - Date.now())).toBeLessThan(60_000);
  });

  it('oversize frame before connect: closed 1009 at the pre-auth limit (64 KiB)', async () => {
    const socket = open(url);
    await socket.challenge();
    socket.sendRaw(
      JSON.stringify({
        type: 'req',
        id: '1',
        method: 'connect',
        params: { pad: 'x'.repeat(70_000) },
      }),
    );
    expect((await socket.closed).code).toBe(1009);
  });

  it('deep JSON: refused before JSON.parse, closed 1008 naming the depth', async () => {
    const socket = open(url);
    await socket.challenge();
    socket.sendRaw(
      `{"type":"req","id":"1","method":"connect","params":${'['.repeat(20_000)}${']'.repeat(20_000)}}`,
    );
    const closed = await socket.closed;
    expect(closed.code).toBe(1008);
    expect(closed.reason).toMatch(/nested deeper than 64/);
  });

  it('junk before connect: not JSON, or another method first, is closed 1008', async () => {
    const junk = open(url);
    await junk.challenge();
    junk.sendRaw('GET / HTTP/1.1\r\n\r\n');
    expect(await junk.closed).toMatchObject({
      code: 1008,
      reason: expect.stringMatching(/malformed JSON/),
    });

    const early = open(url);
    await early.challenge();
    early.sendRaw(JSON.stringify({ type: 'req', id: '1', method: 'health', params: {} }));
    expect(await early.closed).toMatchObject({
      code: 1008,
      reason: expect.stringMatching(/first frame must be a connect/),
    });
  });

  it('silence: a socket that never sends connect is closed at the deadline (4008)', async () => {
    const socket = open(url);
    await socket.challenge();
    const started = Date.now();
    expect((await socket.closed).code).toBe(4008);
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('wrong signature: DEVICE_AUTH_SIGNATURE_INVALID, closed', async () => {
    const socket = open(url);
    const res = await socket.connect({ role: 'node', device: newOpenClawDevice(), tamper: true });
    expect(res.ok).toBe(false);
    expect(res.error).toMatchObject({
      code: 'INVALID_REQUEST',
      details: { code: 'DEVICE_AUTH_SIGNATURE_INVALID' },
    });
    expect((await socket.closed).code).toBe(1008);
  });

  it('replayed challenge: a connect signed for one socket is refused on another', async () => {
    const device = newOpenClawDevice();
    const first = open(url);
    const signed = connectParams(await first.challenge(), { role: 'node', device });
    const second = open(url);
    await second.challenge();
    const res = await second.request('connect', signed);
    expect(res.error).toMatchObject({ details: { code: 'DEVICE_AUTH_NONCE_MISMATCH' } });
    expect((await second.closed).code).toBe(1008);
  });

  it('an operator that sends a device identity has it checked too, token included in what is signed', async () => {
    const device = newOpenClawDevice();
    const signed = await open(url).connect({
      role: 'operator',
      token: gw.token,
      device,
      scopes: ['operator.read'],
    });
    expect(signed.payload).toMatchObject({ type: 'hello-ok', auth: { role: 'operator' } });
    const tampered = open(url);
    const res = await tampered.connect({ role: 'operator', token: gw.token, device, tamper: true });
    expect(res.error).toMatchObject({ details: { code: 'DEVICE_AUTH_SIGNATURE_INVALID' } });
    expect((await tampered.closed).code).toBe(1008);
  });

  it('a device id that is not its key fingerprint is refused', async () => {
    const device = { ...newOpenClawDevice(), id: 'a'.repeat(64) };
    const res = await open(url).connect({ role: 'node', device });
    expect(res.error).toMatchObject({ details: { code: 'DEVICE_AUTH_DEVICE_ID_MISMATCH' } });
  });

  it('a wrong operator token: INVALID_REQUEST with AUTH_TOKEN_MISMATCH; none: AUTH_TOKEN_MISSING', async () => {
    const wrong = await open(url).connect({ role: 'operator', token: 'not-the-token-at-all' });
    expect(wrong.error).toMatchObject({
      code: 'INVALID_REQUEST',
      details: { code: 'AUTH_TOKEN_MISMATCH', loopgateCode: 'UNAUTHORIZED' },
    });
    const none = await open(url).connect({ role: 'operator' });
    expect(none.error).toMatchObject({ details: { code: 'AUTH_TOKEN_MISSING' } });
  });

  it('a protocol range without 4 is PROTOCOL_MISMATCH', async () => {
    const socket = open(url);
    const params = {
      ...connectParams(await socket.challenge(), { role: 'operator', token: gw.token }),
      minProtocol: 5,
      maxProtocol: 6,
    };
    const res = await socket.request('connect', params);
    expect(res.error).toMatchObject({
      details: { code: 'PROTOCOL_MISMATCH', expectedProtocol: 4 },
    });
  });

  it('method not allowed for the role: a read token may not invoke (FORBIDDEN, MISSING_SCOPE); unknown methods are INVALID_REQUEST', async () => {
    const reader = await gw.gateway.services.operatorTokens.create({
      name: 'oc-reader',
      scope: 'operator.read',
    });
    const socket = open(url);
    const hello = await socket.connect({
      role: 'operator',
      token: reader.token,
      scopes: ['operator.admin'],
    });
    // It asked for admin; it gets what its token carries.
    expect(hello.payload).toMatchObject({
      type: 'hello-ok',
      protocol: 4,
      auth: { role: 'operator', scopes: ['operator.read'] },
    });
    const health = await socket.request('health');
    expect(health).toMatchObject({ ok: true, payload: { ok: true } });
    const invoke = await socket.request('node.invoke', { nodeId: 'x', command: 'system.which' });
    expect(invoke.error).toMatchObject({
      code: 'FORBIDDEN',
      details: { code: 'MISSING_SCOPE', missingScope: 'operator.write', loopgateCode: 'FORBIDDEN' },
    });
    const unknown = await socket.request('config.set', { raw: '{}' });
    expect(unknown.error).toMatchObject({
      code: 'INVALID_REQUEST',
      message: 'unknown method: config.set',
    });
    const proto = await socket.request('__proto__');
    expect(proto.error).toMatchObject({ code: 'INVALID_REQUEST' });
    expect(socket.ws.readyState).toBe(socket.ws.OPEN);
  });

  it('a node host may speak protocol 3 (the N-1 node window); an operator may not', async () => {
    const node = open(url);
    const params = {
      ...connectParams(await node.challenge(), { role: 'node', device: newOpenClawDevice() }),
      minProtocol: 3,
      maxProtocol: 3,
    };
    expect((await node.request('connect', params)).payload).toMatchObject({ protocol: 3 });
    const operator = open(url);
    const opParams = {
      ...connectParams(await operator.challenge(), { role: 'operator', token: gw.token }),
      minProtocol: 3,
      maxProtocol: 3,
    };
    expect((await operator.request('connect', opParams)).error).toMatchObject({
      details: { code: 'PROTOCOL_MISMATCH' },
    });
  });

  it('a revoked operator token closes its OpenClaw sockets at once (4010)', async () => {
    const tokens = gw.gateway.services.operatorTokens;
    const writer = await tokens.create({ name: 'oc-writer', scope: 'operator.write' });
    const socket = open(url);
    expect(
      (await socket.connect({ role: 'operator', token: writer.token, scopes: ['operator.write'] }))
        .ok,
    ).toBe(true);
    await tokens.revoke('oc-writer');
    expect((await socket.closed).code).toBe(4010);
  });

  describe('an OpenClaw node through pairing', () => {
    let device: OpenClawDevice;
    beforeAll(() => {
      device = newOpenClawDevice();
    });

    it('an unpaired node waits as a Loopgate pairing request; outside its lane it is NOT_PAIRED and closed', async () => {
      const socket = open(url);
      const hello = await socket.connect({
        role: 'node',
        device,
        displayName: "Oc's box",
        commands: ['system.which', 'Not A Command'],
      });
      expect(hello.payload).toMatchObject({ type: 'hello-ok', auth: { role: 'node', scopes: [] } });
      const pending = await waitFor(() =>
        gw.gateway.services.nodes.listPending().find((r) => r.name === 'Oc-s-box'),
      );
      expect(pending).toMatchObject({ platform: 'linux', commands: ['system.which'] });
      const housekeeping = await socket.request('node.event', {
        event: 'node.host.stats',
        payload: {},
      });
      expect(housekeeping.error).toMatchObject({
        code: 'NOT_PAIRED',
        details: { code: 'PAIRING_REQUIRED' },
      });
      const outside = await socket.request('node.list');
      expect(outside.error).toMatchObject({ code: 'NOT_PAIRED' });
      expect((await socket.closed).code).toBe(4003);
    });

    it('approved, it is told and closed 1012; reconnected it is the paired node, runs invocations, and its errors map back', async () => {
      const waiting = open(url);
      await waiting.connect({
        role: 'node',
        device,
        displayName: "Oc's box",
        commands: ['system.which'],
      });
      await waitFor(() =>
        gw.gateway.services.nodes.listPending().find((r) => r.name === 'Oc-s-box'),
      );
      await gw.gateway.services.nodes.approve('Oc-s-box');
      await waiting.next((f) => f.event === 'node.pair.resolved');
      expect((await waiting.closed).code).toBe(1012);

      const node = open(url);
      const hello = await node.connect({ role: 'node', device, commands: ['system.which'] });
      expect(hello.ok).toBe(true);
      // A node may not call operator methods.
      const health = await node.request('health');
      expect(health.error).toMatchObject({
        code: 'FORBIDDEN',
        details: { loopgateCode: 'FORBIDDEN' },
      });

      const nodes = gw.gateway.services.nodes;
      await waitFor(() => nodes.list().find((n) => n.name === 'Oc-s-box' && n.state === 'online'));
      const ok = nodes.invoke({
        nodeId: 'Oc-s-box',
        command: 'system.which',
        params: { bins: ['sh'] },
      });
      const request = await node.next((f) => f.event === 'node.invoke.request');
      expect(request.payload).toMatchObject({
        nodeId: device.id,
        command: 'system.which',
        paramsJSON: '{"bins":["sh"]}',
      });
      await node.request('node.invoke.result', {
        id: request.payload?.id,
        nodeId: device.id,
        ok: true,
        payloadJSON: '{"bins":{"sh":"/bin/sh"}}',
      });
      expect((await ok).payload).toEqual({ bins: { sh: '/bin/sh' } });

      const failing = nodes
        .invoke({ nodeId: 'Oc-s-box', command: 'system.which', idempotencyKey: 'k2' })
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      const second = await node.next(
        (f) => f.event === 'node.invoke.request' && f.payload?.id !== request.payload?.id,
      );
      await node.request('node.invoke.result', {
        id: second.payload?.id,
        nodeId: device.id,
        ok: false,
        error: { code: 'INVALID_REQUEST', message: 'bins required' },
      });
      const error = await failing;
      expect(error).toBeInstanceOf(GatewayError);
      expect(error).toMatchObject({
        code: 'BAD_REQUEST',
        message: expect.stringMatching(/bins required/),
      });

      // The operator side of the same endpoint invokes it too; a bad payloadJSON is INVALID_RESULT, not a hang.
      const operator = open(url);
      await operator.connect({ role: 'operator', token: gw.token, scopes: ['operator.write'] });
      const viaOpenClaw = operator.request('node.invoke', {
        nodeId: 'Oc-s-box',
        command: 'system.which',
        idempotencyKey: 'k3',
      });
      const third = await node.next(
        (f) =>
          f.event === 'node.invoke.request' &&
          ![request.payload?.id, second.payload?.id].includes(f.payload?.id),
      );
      await node.request('node.invoke.result', {
        id: third.payload?.id,
        nodeId: device.id,
        ok: true,
        payloadJSON: `${'['.repeat(300)}${']'.repeat(300)}`,
      });
      expect((await viaOpenClaw).error).toMatchObject({
        code: 'UNAVAILABLE',
        details: { loopgateCode: 'COMMAND_FAILED', nodeCode: 'INVALID_RESULT' },
      });
    });
  });
});

describe('OpenClaw sockets that never connect, at the global cap', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway({
      config: {
        gateway: {
          openclaw: { enabled: true },
          limits: { maxConnections: 8, maxConnectionsPerAddress: 8 },
        },
      },
    });
  });
  afterAll(() => gw.stop());

  it('a stranger filling every place with silent OpenClaw sockets does not lock an operator out; its oldest makes room', async () => {
    const held: OpenClawSocket[] = [];
    for (let i = 0; i < 8; i++) {
      const socket = open(`${gw.url}/openclaw`);
      await socket.challenge();
      held.push(socket);
    }
    const operator = await openOperatorSocket(gw.url, gw.token, { localAddress: '127.0.0.9' });
    try {
      expect(resultData<{ ok: boolean }>(await operator.call(1, 'health')).ok).toBe(true);
    } finally {
      operator.ws.close();
    }
    expect((await held[0]!.closed).code).toBe(1013);
  });
});

describe('row 49: frames behind a refusal on the OpenClaw endpoint', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway({ config: { gateway: { openclaw: { enabled: true } } } });
  });
  afterAll(() => gw.stop());

  it('row 49: a socket refused before connect cannot authenticate with a valid connect sent right behind 400 frames of 60 KiB; no connection.opened for it', async () => {
    const url = `${gw.url}/openclaw`;
    const opened: string[] = [];
    const recording = new AbortController();
    void (async () => {
      for await (const [, event] of gw.gateway.services.events.subscribe({
        signal: recording.signal,
      }))
        if (event.type === 'connection.opened') opened.push(event.connectionId);
    })();
    try {
      const attacker = open(url);
      const challenge = await attacker.challenge();
      // The first frame is not a connect, so the socket is refused (1008); everything after it
      // arrives while the close completes.
      const filler = Array.from({ length: 60 }, () => `[${'1,'.repeat(500)}1]`).join(',');
      for (let i = 0; i < 400; i++)
        attacker.sendRaw(`{"type":"req","id":"f${i}","method":"health","params":[${filler}]}`);
      attacker.sendRaw(
        JSON.stringify({
          type: 'req',
          id: 'late-connect',
          method: 'connect',
          params: connectParams(challenge, { role: 'operator', token: gw.token }),
        }),
      );
      const closed = await attacker.closed;
      expect(closed).toMatchObject({ code: 1008, reason: expect.stringMatching(/first frame/) });
      expect(attacker.frames.filter((f) => f.type === 'res')).toEqual([]);

      // An honest operator after it: its connection.opened is the first one the gateway emits.
      const honest = open(url);
      const hello = await honest.connect({ role: 'operator', token: gw.token });
      const connId = (hello.payload as { server: { connId: string } }).server.connId;
      await waitFor(() => opened.includes(connId), {
        what: "the honest operator's connection.opened",
      });
      expect(opened).toEqual([connId]);
      honest.close();
    } finally {
      recording.abort();
    }
  });
});
