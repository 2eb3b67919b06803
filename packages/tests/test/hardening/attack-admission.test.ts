/**
 * Holding the gateway's connection places without ever authenticating (row
 * 39 of docs/hardening.md): a real gateway, raw sockets from several
 * loopback addresses, and an operator who must still get in.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  openOperatorSocket,
  openRawWebSocket,
  type RawWebSocket,
  resultData,
} from '../../src/hardening/index.js';
import { startTestGateway, type TestGateway } from '../../src/index.js';

describe('row 39: sockets that never authenticate and the connection cap', () => {
  const PER_ADDRESS = 10;
  const GLOBAL = 40;
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway({
      config: {
        gateway: {
          limits: { maxConnectionsPerAddress: PER_ADDRESS, maxConnections: GLOBAL },
        },
      },
    });
  });
  afterAll(() => gw.stop());

  it('row 39: a stranger holding every place with silent sockets from 4 addresses does not lock an operator out; its oldest socket makes room', async () => {
    const held: RawWebSocket[] = [];
    try {
      for (let i = 0; i < GLOBAL; i++) {
        const ws = await openRawWebSocket({
          port: gw.port,
          path: '/?connectionParams=1',
          localAddress: `127.0.0.${2 + Math.floor(i / PER_ADDRESS)}`,
        });
        expect(ws.status).toBe(101);
        held.push(ws);
      }
      // The gateway is full of sockets that said nothing; an operator with the token arrives.
      const operator = await openOperatorSocket(gw.url, gw.token, { localAddress: '127.0.0.9' });
      try {
        expect(resultData<{ ok: boolean }>(await operator.call(1, 'health')).ok).toBe(true);
      } finally {
        operator.ws.close();
      }
      // The stranger's oldest socket was the one to go, told why.
      const evicted = await held[0]!.closed;
      expect(evicted.code).toBe(1013);
      expect(evicted.reason).toMatch(/not authenticated/);
      const stillOpen = await Promise.all(
        held
          .slice(1)
          .map((ws) =>
            Promise.race([
              ws.closed.then(() => false),
              new Promise((r) => setTimeout(r, 50, true)),
            ]),
          ),
      );
      expect(stillOpen.every(Boolean)).toBe(true);
    } finally {
      for (const ws of held) ws.destroy();
    }
  });
});
