/**
 * A credential's own comings and goings in the durable event log. The replay
 * buffer is what an operator resumes from; a read-only token (or one paired
 * node's key) connecting in a loop wrote two durable events per visit and
 * pushed everything else out of it (a node four, with `node.online` and
 * `node.offline`): an admin resuming got `events.gap` instead of the token
 * created before. Real gateway, raw sockets (row 59 of docs/hardening.md).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type OperatorSocket,
  openOperatorSocket,
  pairHostileNode,
  resultData,
} from '../../src/hardening/index.js';
import { startTestGateway, type TestGateway } from '../../src/index.js';

type EventFrame = {
  id: number;
  result?: { type: string; id?: string; data?: { json?: { data?: { type: string } } } };
};

/** Resumes `events` after `lastEventId`; the event types up to `auth.token` or a gap. */
async function resumeUntilTokenOrGap(
  socket: OperatorSocket,
  lastEventId: string | undefined,
): Promise<string[]> {
  socket.ws.send(
    JSON.stringify({
      id: 1,
      method: 'subscription',
      params: { path: 'events', input: { json: { lastEventId } } },
    }),
  );
  const types: string[] = [];
  while (!types.includes('auth.token') && !types.includes('events.gap')) {
    const frame = (await socket.answerTo(1)) as EventFrame;
    const type = frame.result?.data?.json?.data?.type;
    if (type) types.push(type);
  }
  return types;
}

/** Connects with `token`, is answered once (so it is in), leaves. */
async function visit(url: string, token: string): Promise<void> {
  const socket = await openOperatorSocket(url, token);
  try {
    expect(resultData<{ ok: boolean }>(await socket.call(1, 'health')).ok).toBe(true);
  } finally {
    socket.ws.close();
    await socket.closed;
  }
}

describe('row 59: one credential connecting in a loop and the replay buffer', () => {
  const REPLAY = 128;
  let gw: TestGateway;
  let readToken: string;
  beforeAll(async () => {
    gw = await startTestGateway({ config: { gateway: { events: { replayBufferSize: REPLAY } } } });
    readToken = (
      await gw.gateway.services.operatorTokens.create({
        name: 'dashboard',
        scope: 'operator.read',
      })
    ).token;
  });
  afterAll(() => gw.stop());

  /** Subscribes a live watcher to `prefix` events; resolves once it is subscribed. */
  async function watch(prefix: string): Promise<OperatorSocket> {
    const watcher = await openOperatorSocket(gw.url, gw.token);
    watcher.ws.send(
      JSON.stringify({
        id: 7,
        method: 'subscription',
        params: { path: 'events', input: { json: { types: [prefix] } } },
      }),
    );
    expect((await watcher.answerTo(7)).result?.type).toBe('started');
    return watcher;
  }

  /** Reads the watcher's events until `count` of `type` have arrived. */
  async function seeLive(watcher: OperatorSocket, type: string, count: number): Promise<void> {
    let seen = 0;
    while (seen < count) {
      const frame = (await watcher.answerTo(7)) as EventFrame;
      if (frame.result?.data?.json?.data?.type === type) seen++;
    }
    watcher.ws.close();
  }

  async function expectTokenEventResumable(before: string | undefined): Promise<void> {
    const admin = await openOperatorSocket(gw.url, gw.token);
    try {
      const types = await resumeUntilTokenOrGap(admin, before);
      expect(types).not.toContain('events.gap');
      expect(types).toContain('auth.token');
    } finally {
      admin.ws.close();
    }
  }

  it('row 59: 2 × the replay buffer of go-online-and-leave visits by one paired node do not push an admin’s events out of it; a live watcher still sees them', async () => {
    const node = await pairHostileNode(gw.url, gw.token, 'flapper');
    node.close();
    const watcher = await watch('node.');
    const before = gw.gateway.services.events.lastEventId ?? undefined;
    await gw.gateway.services.operatorTokens.create({ name: 'audit', scope: 'operator.read' });

    for (let i = 0; i < REPLAY * 2; i++) {
      const socket = await openOperatorSocket(gw.url, gw.token, { params: node.params });
      socket.ws.send(
        JSON.stringify({
          id: 2,
          method: 'subscription',
          params: { path: 'node.invocations', input: { json: { commands: ['system.info'] } } },
        }),
      );
      expect((await socket.answerTo(2)).result?.type).toBe('started');
      socket.ws.close();
      await socket.closed;
    }
    await seeLive(watcher, 'node.offline', REPLAY * 2);
    await expectTokenEventResumable(before);
  });

  it('row 59: 2 × the replay buffer of connects with one read-only token do not push an admin’s events out of it; a live watcher still sees them', async () => {
    const watcher = await watch('connection.');
    const before = gw.gateway.services.events.lastEventId ?? undefined;
    // A real event an admin resuming from `before` must still get.
    await gw.gateway.services.operatorTokens.create({ name: 'ci', scope: 'operator.write' });

    for (let i = 0; i < REPLAY * 2; i++) await visit(gw.url, readToken);

    await seeLive(watcher, 'connection.closed', REPLAY * 2);
    await expectTokenEventResumable(before);
  });
});
