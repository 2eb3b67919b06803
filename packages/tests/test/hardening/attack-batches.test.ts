/**
 * One tRPC socket's share of the gateway: requests dispatched 16 per turn of
 * the loop (frames past that wait in a backlog with the socket paused), what
 * a socket the gateway has decided to close may still do, PONGs nobody reads,
 * and an unpaired peer's frames that are no request. Real gateway in this
 * process, raw sockets speaking tRPC's wire format (rows 50, 52, 53 and 54
 * of docs/hardening.md).
 */
import { once } from 'node:events';
import { NodeKey } from '@loopgate/node';
import { CloseCode, type GatewayEvent, NODE_CHALLENGE_HEADER } from '@loopgate/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  encodeFrame,
  nodeParams,
  Opcode,
  openOperatorSocket,
  openRawWebSocket,
  resultData,
  sendConnectionParams,
  type TrpcFrame,
} from '../../src/hardening/index.js';
import { startTestGateway, type TestGateway } from '../../src/index.js';

let gw: TestGateway;
beforeAll(async () => {
  gw = await startTestGateway();
});
afterAll(async () => {
  await gw?.stop();
});

async function newAdminToken(name: string): Promise<string> {
  const admin = await openOperatorSocket(gw.url, gw.token);
  try {
    const created = await admin.call(
      1,
      'tokens.create',
      { name, scope: 'operator.admin' },
      'mutation',
    );
    return resultData<{ token: string }>(created).token;
  } finally {
    admin.ws.close();
    await admin.closed;
  }
}

async function tokenNames(): Promise<string[]> {
  const admin = await openOperatorSocket(gw.url, gw.token);
  try {
    const listed = await admin.call(1, 'tokens.list');
    return resultData<{ tokens: { name: string }[] }>(listed).tokens.map((t) => t.name);
  } finally {
    admin.ws.close();
    await admin.closed;
  }
}

function mutation(id: number, path: string, input: unknown): string {
  return JSON.stringify({ id, method: 'mutation', params: { path, input: { json: input } } });
}

/** `connection.closed` events the gateway logged after `afterId`. */
function closedEventsAfter(
  afterId: string,
): Extract<GatewayEvent, { type: 'connection.closed' }>[] {
  const { events } = gw.gateway.services.events.replayAfter(afterId);
  return events
    .map((e) => e.event)
    .filter(
      (e): e is Extract<GatewayEvent, { type: 'connection.closed' }> =>
        e.type === 'connection.closed',
    );
}

describe('batch slices and a socket the gateway is closing', () => {
  it('row 50: a revoked token cannot create a token in the close handshake that follows its revocation', async () => {
    const token = await newAdminToken('self-revoker');
    // A bare socket: it does not answer the close frame, as a hostile peer need not.
    const peer = await openRawWebSocket({ port: gw.port, path: '/?connectionParams=1' });
    try {
      sendConnectionParams(peer, { token });
      peer.sendText(mutation(1, 'tokens.revoke', { name: 'self-revoker' }));
      expect(JSON.parse(await peer.nextText())).toMatchObject({ id: 1, result: { type: 'data' } });
      // The gateway has closed this socket for the revocation and waits up to a second for our
      // close reply; ws still hands it what we send meanwhile.
      expect((await peer.closed).code).toBe(CloseCode.revoked);
      peer.sendText(mutation(2, 'tokens.create', { name: 'sneaked-in', scope: 'operator.admin' }));
      await peer.ended;
    } finally {
      peer.destroy();
    }
    expect(await tokenNames()).not.toContain('sneaked-in');
  });

  it('row 50: a socket revoked while its batch backlog waits completes the close handshake (4010 logged, not 1006)', async () => {
    const token = await newAdminToken('flooder');
    const peer = await openOperatorSocket(gw.url, token);
    expect((await peer.call(1, 'health')).result).toBeDefined();
    const before = gw.gateway.services.events.lastEventId ?? '0';
    // 64-request batches back to back that answer nothing (stops of subscriptions that do not
    // exist): every TCP read the gateway makes holds a batch past the 16-request slice, so the
    // socket is paused, a backlog draining, nearly all the time the flood lasts.
    const stops = JSON.stringify(
      Array.from({ length: 64 }, (_, i) => ({ id: 1_000 + i, method: 'subscription.stop' })),
    );
    for (let i = 0; i < 1_200; i++) peer.ws.send(stops);
    const admin = await openOperatorSocket(gw.url, gw.token);
    try {
      const revoked = await admin.call(1, 'tokens.revoke', { name: 'flooder' }, 'mutation');
      expect(resultData(revoked)).toEqual({ name: 'flooder', closedConnections: 1 });
      expect((await peer.closed).code).toBe(CloseCode.revoked);
      // The gateway logs the code of a completed close handshake; 1006 means it never read
      // our close reply and dropped the socket when its grace ran out.
      const deadline = Date.now() + 5_000;
      while (closedEventsAfter(before).length === 0 && Date.now() < deadline)
        await new Promise((resolve) => setTimeout(resolve, 10));
      expect(closedEventsAfter(before).map((e) => e.code)).toEqual([CloseCode.revoked]);
    } finally {
      admin.ws.close();
      await admin.closed;
    }
  });

  it('row 50: a subscription.stop right behind a 64-request batch holding that subscription stops it', async () => {
    const peer = await openOperatorSocket(gw.url, gw.token);
    const health = (id: number) => ({
      id,
      method: 'query',
      params: { path: 'health', input: { json: null } },
    });
    const batch: unknown[] = Array.from({ length: 64 }, (_, i) => health(i + 1));
    // in the last slice, so it starts turns after the stop has been read
    batch[60] = {
      id: 'sub',
      method: 'subscription',
      params: { path: 'events', input: { json: {} } },
    };
    peer.ws.send(JSON.stringify(batch));
    peer.ws.send(JSON.stringify({ id: 'sub', method: 'subscription.stop' }));
    peer.ws.send(JSON.stringify({ ...health(100) }));
    const seen: string[] = [];
    let answered = false;
    // A stop that found nothing leaves the stream running: no `stopped` ever comes, and
    // `next` fails when frames stop arriving.
    while (!answered || seen.length < 2) {
      const frame = await peer.next();
      if (frame.id === 'sub') seen.push(frame.result?.type ?? JSON.stringify(frame.error));
      if (frame.id === 100) answered = true;
    }
    expect(seen).toEqual(['started', 'stopped']);
    peer.ws.close();
    await peer.closed;
  });
  it('row 52: 1 000 frames of 16 malformed requests sent at once by one operator do not hold the loop: another operator is answered while they are worked through', async () => {
    const flooder = await openOperatorSocket(gw.url, gw.token);
    const probe = await openOperatorSocket(gw.url, gw.token);
    try {
      expect((await flooder.call(1, 'health')).result).toBeDefined();
      expect((await probe.call(1, 'health')).result).toBeDefined();
      const FRAMES = 1_000;
      const PER_FRAME = 16;
      let answered = 0;
      let floodAnsweredAt = 0;
      const floodAnswered = new Promise<void>((resolve) =>
        flooder.ws.on('message', () => {
          if (++answered < FRAMES * PER_FRAME) return;
          floodAnsweredAt = performance.now();
          resolve();
        }),
      );
      // Each frame holds no more than one slice, so none waits for a later turn by itself;
      // each request is answered with an error, the costliest answer a peer can ask for.
      const frame = JSON.stringify(Array.from({ length: PER_FRAME }, () => 0));
      for (let i = 0; i < FRAMES; i++) flooder.ws.send(frame);
      const sentAt = performance.now();
      expect((await probe.call(2, 'health')).result).toBeDefined();
      const probeMs = performance.now() - sentAt;
      await floodAnswered;
      const floodMs = floodAnsweredAt - sentAt;
      // Before, every frame libuv handed over in one read ran in one turn (seconds of
      // errors) and the probe waited for all of it; now it waits a slice or two.
      expect(
        probeMs,
        `probe ${probeMs.toFixed(0)} ms, flood ${floodMs.toFixed(0)} ms`,
      ).toBeLessThan(floodMs / 4);
    } finally {
      flooder.ws.close();
      probe.ws.close();
      await Promise.all([flooder.closed, probe.closed]);
    }
  });
  it('row 52: 200 000 PING frames sent at once do not hold the loop: another operator is answered while their PONGs go out', async () => {
    const flooder = await openRawWebSocket({ port: gw.port, path: '/?connectionParams=1' });
    const probe = await openOperatorSocket(gw.url, gw.token);
    try {
      sendConnectionParams(flooder, { token: gw.token });
      flooder.sendText('PING');
      expect(await flooder.nextText()).toBe('PONG');
      expect((await probe.call(1, 'health')).result).toBeDefined();
      const PINGS = 200_000;
      // A PONG is 6 bytes on the wire; they are counted, not parsed, so the time taken is the gateway's.
      const PONG_BYTES = PINGS * 6;
      let received = 0;
      let pongedAt = 0;
      const allPonged = new Promise<void>((resolve) => {
        flooder.socket.removeAllListeners('data');
        flooder.socket.on('data', (chunk: Buffer) => {
          received += chunk.length;
          if (received < PONG_BYTES || pongedAt > 0) return;
          pongedAt = performance.now();
          resolve();
        });
      });
      const frame = encodeFrame({ opcode: Opcode.text, payload: 'PING' });
      flooder.socket.write(Buffer.concat(Array.from({ length: PINGS }, () => frame)));
      const sentAt = performance.now();
      expect((await probe.call(2, 'health')).result).toBeDefined();
      const probeMs = performance.now() - sentAt;
      await allPonged;
      const floodMs = pongedAt - sentAt;
      // Before, every PING of a read was answered in one turn (~0.5 s for 2 MB) and the
      // probe waited for it (0.3 to 1 of the PONGs' time); now the PINGs take their turns
      // with everyone's requests (0.01 to 0.02).
      expect(
        probeMs,
        `probe ${probeMs.toFixed(0)} ms, PONGs ${floodMs.toFixed(0)} ms`,
      ).toBeLessThan(floodMs / 10);
    } finally {
      flooder.destroy();
      probe.ws.close();
      await probe.closed;
    }
  });

  it('row 53: PING frames from a peer that never reads its PONGs are cut off at the outgoing buffer cap, not buffered without bound', async () => {
    const cap = 256 * 1024;
    const small = await startTestGateway({
      config: { gateway: { limits: { maxBufferedBytes: cap } } },
    });
    const peer = await openRawWebSocket({ port: small.port, path: '/?connectionParams=1' });
    try {
      sendConnectionParams(peer, { token: small.token });
      peer.sendText(
        JSON.stringify({
          id: 1,
          method: 'query',
          params: { path: 'health', input: { json: null } },
        }),
      );
      expect(JSON.parse(await peer.nextText())).toMatchObject({ id: 1, result: { type: 'data' } });
      // From here on nothing is read: every PONG stays with the gateway once the kernel's
      // buffers are full (loopback's take tens of MB). 40 MB of PINGs ask for 24 MB of PONGs.
      peer.socket.pause();
      const ping = encodeFrame({ opcode: Opcode.text, payload: 'PING' });
      const burst = Buffer.concat(Array.from({ length: 10_000 }, () => ping));
      for (let i = 0; i < 400 && !peer.socket.destroyed; i++) {
        // a reset (the gateway cut us off) rejects the wait for drain: `ended` says the same
        if (!peer.socket.write(burst))
          await Promise.race([once(peer.socket, 'drain').catch(() => undefined), peer.ended]);
      }
      const cutOff = await Promise.race([
        peer.ended.then(() => true),
        new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 10_000)),
      ]);
      expect(cutOff, 'the gateway kept the socket and buffered its PONGs').toBe(true);
    } finally {
      peer.destroy();
      await small.stop();
    }
  }, 60_000);
  it('row 54: an unpaired peer sending a frame that is no request is closed NOT_PAIRED, not answered PARSE_ERROR for as long as it likes', async () => {
    const stranger = await openRawWebSocket({ port: gw.port, path: '/?connectionParams=1' });
    try {
      const prove = nodeParams(NodeKey.generate());
      sendConnectionParams(stranger, prove(String(stranger.headers[NODE_CHALLENGE_HEADER])));
      // Answered in order: once PONG is back, the socket has authenticated as `pairing`.
      stranger.sendText('PING');
      expect(await stranger.nextText()).toBe('PONG');
      // 7 bytes each on the wire, an error frame built and sent for every one
      const zeros = encodeFrame({ opcode: Opcode.text, payload: '0' });
      stranger.socket.write(Buffer.concat(Array.from({ length: 10_000 }, () => zeros)));
      const first = JSON.parse(await stranger.nextText()) as TrpcFrame;
      expect(first.error?.json.data.gatewayCode).toBe('NOT_PAIRED');
      expect(first.error?.json.message).toMatch(/it sent a frame that is no request/);
      const closed = await stranger.closed;
      expect(closed.code).toBe(CloseCode.forbidden);
      expect(closed.reason).toMatch(/^NOT_PAIRED: /);
    } finally {
      stranger.destroy();
    }
  });
});
