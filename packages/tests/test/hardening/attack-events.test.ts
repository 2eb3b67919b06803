/**
 * Strangers writing into the durable event log (row 37 of docs/hardening.md):
 * the replay buffer is what a reconnecting operator resumes from, so a peer
 * with no credential must not be able to push real events out of it. Real
 * gateway, raw sockets.
 */
import { NodeKey } from '@loopgate/node';
import { NODE_CHALLENGE_HEADER } from '@loopgate/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  nodeParams,
  openOperatorSocket,
  openRawWebSocket,
  sendConnectionParams,
} from '../../src/hardening/index.js';
import { startTestGateway, type TestGateway } from '../../src/index.js';

/** Connects as a node asking to pair with a key made up on the spot, waits until it is in, leaves. */
async function pairingVisit(port: number, localAddress: string): Promise<void> {
  const ws = await openRawWebSocket({ port, path: '/?connectionParams=1', localAddress });
  try {
    expect(ws.status).toBe(101);
    const prove = nodeParams(NodeKey.generate());
    sendConnectionParams(ws, prove(String(ws.headers[NODE_CHALLENGE_HEADER])));
    // Answered in order: once PONG is back, the socket has authenticated as `pairing`.
    ws.sendText('PING');
    expect(await ws.nextText()).toBe('PONG');
  } finally {
    ws.destroy();
    await ws.ended;
  }
}

type EventFrame = {
  id: number;
  result?: { type: string; id?: string; data?: { json?: { data?: { type: string } } } };
};

describe('row 37: unpaired peers and the replay buffer', () => {
  const REPLAY = 64;
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway({ config: { gateway: { events: { replayBufferSize: REPLAY } } } });
  });
  afterAll(() => gw.stop());

  it('row 37: 3 × the replay buffer of pairing connects from a stranger do not push an operator’s events out of it', async () => {
    const before = gw.gateway.services.events.lastEventId;
    // A real event an operator resuming from `before` must still get.
    await gw.gateway.services.operatorTokens.create({ name: 'ci', scope: 'operator.read' });

    for (let i = 0; i < REPLAY * 3; i++) await pairingVisit(gw.port, `127.0.0.${2 + (i % 4)}`);

    const operator = await openOperatorSocket(gw.url, gw.token);
    try {
      operator.ws.send(
        JSON.stringify({
          id: 1,
          method: 'subscription',
          params: { path: 'events', input: { json: { lastEventId: before } } },
        }),
      );
      const types: string[] = [];
      while (!types.includes('auth.token') && !types.includes('events.gap')) {
        const frame = (await operator.answerTo(1)) as EventFrame;
        const type = frame.result?.data?.json?.data?.type;
        if (type) types.push(type);
      }
      expect(types).toContain('auth.token');
      expect(types).not.toContain('events.gap');
      expect(types.filter((t) => t.startsWith('connection.')).length).toBeLessThan(REPLAY);
    } finally {
      operator.ws.close();
    }
  });
});
