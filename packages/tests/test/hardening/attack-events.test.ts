/**
 * Strangers writing into the durable event log: the replay buffer is what a reconnecting operator resumes from, so a peer
 * with no credential must not be able to push real events out of it (rows 37
 * and 46 of docs/hardening.md). Real gateway, raw sockets.
 */
import { NodeKey } from '@loopgate/node';
import { NODE_CHALLENGE_HEADER } from '@loopgate/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  abandonedPairingRequest,
  askToPair,
  nodeParams,
  type OperatorSocket,
  openOperatorSocket,
  openRawWebSocket,
  resultData,
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

/** Subscribes `socket` to `events` as subscription `id`, from `lastEventId` if given. */
function subscribeEvents(socket: OperatorSocket, id: number, lastEventId?: string | null): void {
  const input = lastEventId === undefined ? {} : { lastEventId };
  socket.ws.send(
    JSON.stringify({
      id,
      method: 'subscription',
      params: { path: 'events', input: { json: input } },
    }),
  );
}

type PairEvent = { type: string; requestId?: string; decision?: string };

/** Events of subscription `id`, by type, up to and including the first that `until` accepts. */
async function eventsUntil(
  socket: OperatorSocket,
  id: number,
  until: (event: PairEvent) => boolean,
): Promise<string[]> {
  const types: string[] = [];
  for (;;) {
    const frame = (await socket.answerTo(id)) as EventFrame;
    const event = frame.result?.data?.json?.data as PairEvent | undefined;
    if (!event) continue;
    types.push(event.type);
    if (until(event) || event.type === 'events.gap') return types;
  }
}

describe('row 46: pairing-request churn and the replay buffer', () => {
  const REPLAY = 64;
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway({
      config: {
        gateway: {
          events: { replayBufferSize: REPLAY },
          // requests whose node left lapse at once, so the churn is not slowed by per-address caps
          nodes: { pendingGraceMs: 10 },
        },
      },
    });
  });
  afterAll(() => gw.stop());

  it('row 46: 2 × the replay buffer of pairing requests from 8 loopback addresses, each abandoned at once, do not push an operator’s events out of it, and the operator still sees who waits', async () => {
    const before = gw.gateway.services.events.lastEventId;
    await gw.gateway.services.operatorTokens.create({ name: 'ci', scope: 'operator.read' });

    let asked = 0;
    for (let i = 0; i < REPLAY * 2; i++) {
      if (await abandonedPairingRequest(gw.url, `127.0.0.${2 + (i % 8)}`, `churn-${i}`)) asked++;
    }
    expect(asked).toBeGreaterThanOrEqual(REPLAY);

    const operator = await openOperatorSocket(gw.url, gw.token);
    const resumed = await openOperatorSocket(gw.url, gw.token);
    try {
      subscribeEvents(operator, 1);
      const real = await askToPair(gw.url, '', 'real-node', { localAddress: '127.0.0.10' });
      // The operator watching live sees the request, and `nodes.pair.list` lists it.
      const live = await eventsUntil(
        operator,
        1,
        (e) => e.type === 'node.pair.requested' && e.requestId === real.requestId,
      );
      expect(live).not.toContain('events.gap');
      const listed = resultData<{ requestId: string }[]>(await operator.call(2, 'nodes.pair.list'));
      expect(listed.map((r) => r.requestId)).toContain(real.requestId);
      await operator.call(3, 'nodes.pair.approve', { requestId: real.requestId }, 'mutation');
      real.asker.ws.close();

      // Resuming from before the churn: the operator's events, the approval, and no gap.
      subscribeEvents(resumed, 1, before);
      const replayed = await eventsUntil(
        resumed,
        1,
        (e) => e.type === 'node.pair.resolved' && e.requestId === real.requestId,
      );
      expect(replayed).toContain('auth.token');
      expect(replayed).not.toContain('events.gap');
      expect(replayed.at(-1)).toBe('node.pair.resolved');
    } finally {
      operator.ws.close();
      resumed.ws.close();
    }
  });
});
