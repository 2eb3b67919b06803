/**
 * A read-only token making every node run a command (row 44 of
 * docs/hardening.md): `status` is operator.read, and `status --deep`
 * invokes `system.info` on every online node to report its latency. An
 * operator.read token may not call `nodes.invoke`, yet could have every
 * node run system.info as often as it liked. A real gateway, a node on the
 * real wire counting what it is asked to run, a read token.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type HostileNode,
  openOperatorSocket,
  pairHostileNode,
  resultData,
} from '../../src/hardening/index.js';
import { startTestGateway, type TestGateway } from '../../src/index.js';

describe('row 44: status --deep from an operator.read token', () => {
  let gw: TestGateway;
  let node: HostileNode;
  let runs = 0;
  let readToken = '';
  beforeAll(async () => {
    gw = await startTestGateway();
    node = await pairHostileNode(gw.url, gw.token, 'probed-node');
    node.answerWith((invocationId) => {
      runs++;
      return JSON.stringify({ json: { invocationId, ok: true, payload: { os: 'linux' } } });
    });
    readToken = (
      await gw.gateway.services.operatorTokens.create({ name: 'viewer', scope: 'operator.read' })
    ).token;
  });
  afterAll(async () => {
    node.close();
    await gw.stop();
  });

  it('row 44: 200 status --deep calls in flight from a read token and 20 more one after another, run system.info on the node once; every caller gets the probe', async () => {
    const reader = await openOperatorSocket(gw.url, readToken);
    try {
      for (let id = 1; id <= 200; id++)
        reader.ws.send(
          JSON.stringify({
            id,
            method: 'query',
            params: { path: 'status', input: { json: { deep: true } } },
          }),
        );
      for (let id = 1; id <= 200; id++) {
        const status = resultData<{ deep?: { nodes: { name: string; ok: boolean }[] } }>(
          await reader.answerTo(id, 20_000),
        );
        expect(status.deep?.nodes).toEqual([
          expect.objectContaining({ name: 'probed-node', ok: true }),
        ]);
      }
      expect(runs).toBe(1);
      // One after another, too: the probe answers every caller for a few seconds.
      for (let id = 201; id <= 220; id++) await reader.call(id, 'status', { deep: true });
      expect(runs).toBe(1);
    } finally {
      reader.ws.close();
    }
  });
});
