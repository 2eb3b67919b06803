/**
 * A paired node going online and offline in a loop on one socket (its
 * `node.invocations` subscription started, and stopped as soon as it has): the gateway log must not grow a pair of lines per turn
 * of it. A real gateway writing its real log file, a node paired for real,
 * raw frames (row 60 of docs/hardening.md).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openOperatorSocket, pairHostileNode } from '../../src/hardening/index.js';
import { makeTempDir, startTestGateway, type TestGateway } from '../../src/index.js';

type LogEntry = { msg?: string; heldBack?: number; nodeId?: string };

describe('row 60: a paired node toggling its invocation stream and the gateway log', () => {
  const TOGGLES = 2_000;
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway({
      stateDir: await makeTempDir('loopgate-flapping-'),
      config: { logging: { level: 'info' } },
    });
  });
  afterAll(() => gw.stop());

  it('row 60: 2 000 start/stop pairs of a node’s invocation stream write a handful of log lines, with the count; the node still goes online', async () => {
    const node = await pairHostileNode(gw.url, gw.token, 'toggler');
    node.close();
    const socket = await openOperatorSocket(gw.url, gw.token, { params: node.params });
    const subscribe = (id: number) =>
      JSON.stringify({
        id,
        method: 'subscription',
        params: { path: 'node.invocations', input: { json: { commands: ['system.info'] } } },
      });
    const started = async (id: number) => {
      for (;;) if ((await socket.answerTo(id, 30_000)).result?.type === 'started') return;
    };
    for (let i = 1; i <= TOGGLES; i++) {
      socket.ws.send(subscribe(i));
      await started(i);
      socket.ws.send(JSON.stringify({ id: i, method: 'subscription.stop' }));
    }
    socket.ws.send(subscribe(TOGGLES + 1));
    await started(TOGGLES + 1);
    const detail = gw.gateway.services.nodes.describe('toggler');
    expect(detail.state).toBe('online');
    socket.ws.close();
    await socket.closed;
    // Stopping flushes the log (and what it held back) to its file.
    await gw.stop();

    const lines = (await readFile(join(gw.stateDir, 'logs', 'gateway.log'), 'utf8'))
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as LogEntry);
    const presence = lines.filter(
      (l) => l.msg?.startsWith('node online') || l.msg?.startsWith('node offline'),
    );
    expect(presence.length).toBeLessThanOrEqual(2 * 16 + 4);
    // Nothing goes uncounted: every going online is a line or in a line's count.
    const online = presence
      .filter((l) => l.msg?.startsWith('node online'))
      .reduce((sum, l) => sum + 1 + (l.heldBack ?? 0), 0);
    // the toggles, the last stream, and the one pairHostileNode opened
    expect(online).toBe(TOGGLES + 2);
    console.log(`row 60: ${presence.length} presence lines for ${online} goings online`);
  });
});
