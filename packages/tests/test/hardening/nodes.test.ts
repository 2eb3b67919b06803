/**
 * Pairing under abuse, over the wire (HARDENING row 19). Most of row 19 and
 * rows 17-18 are covered by the nodes end-to-end tests (see
 * docs/hardening.md); this file adds what they leave to unit tests.
 */
import { createGatewayClient, type GatewayClient } from '@loopgate/client';
import { NodeKey } from '@loopgate/node';
import type { GatewayError, NodePairUpdate } from '@loopgate/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nodeKeyClient, startTestGateway, type TestGateway, waitFor } from '../../src/index.js';

const PENDING_TTL_MS = 600;

let gw: TestGateway;
let operator: GatewayClient;
const clients: GatewayClient[] = [];
beforeAll(async () => {
  gw = await startTestGateway({
    config: { gateway: { nodes: { pendingTtlMs: PENDING_TTL_MS, maxPending: 3 } } },
  });
  operator = createGatewayClient({ url: gw.url, token: gw.token });
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await operator.close();
  await gw.stop();
});

/** One node key per label, so asking again with the same label is the same node. */
const keys = new Map<string, NodeKey>();

/** An unpaired node asking to be paired; resolves with every update it is sent until the stream ends. */
function askToPair(
  name: string,
  key: string,
): { updates: NodePairUpdate[]; ended: Promise<GatewayError | undefined>; client: GatewayClient } {
  const nodeKey = keys.get(key) ?? NodeKey.generate();
  keys.set(key, nodeKey);
  const client = nodeKeyClient(gw.url, nodeKey);
  clients.push(client);
  const updates: NodePairUpdate[] = [];
  const ended = new Promise<GatewayError | undefined>((resolve) => {
    client.node.pair.request.subscribe(
      { name, platform: 'test', commands: ['system.info'] },
      {
        onData: (u) => updates.push(u),
        onError: (e) => resolve(e),
        onComplete: () => resolve(undefined),
      },
    );
  });
  return { updates, ended, client };
}

describe('row 19: pairing', () => {
  it('row 19: a pending request nobody answers expires after pendingTtlMs: the waiting node is told, the request is gone, and its place under the cap is free again', async () => {
    const asked = Date.now();
    const first = askToPair('expiring', 'e');
    const second = askToPair('expiring-2', 'f');
    const third = askToPair('expiring-3', 'g');
    await waitFor(
      () => first.updates.length > 0 && second.updates.length > 0 && third.updates.length > 0,
      { what: 'three pending requests' },
    );
    expect(first.updates[0]).toMatchObject({ status: 'pending' });
    const overCap = askToPair('one-too-many', 'h');
    expect((await overCap.ended)?.code).toBe('LIMIT_EXCEEDED');

    await first.ended;
    expect(first.updates.map((u) => u.status)).toEqual(['pending', 'expired']);
    // Generous bound: the TTL plus the sweep and delivery.
    expect(Date.now() - asked).toBeLessThan(PENDING_TTL_MS + 3_000);
    await waitFor(async () => (await operator.nodes.pair.list.query()).length === 0, {
      what: 'the expired requests to leave the list',
    });
    const later = askToPair('after-expiry', 'i');
    await waitFor(() => later.updates.length > 0, {
      what: 'a new request once the old ones expired',
    });
    expect(later.updates[0]).toMatchObject({ status: 'pending' });
  });

  it('row 19: an expired request cannot be approved, and the node that asked still cannot do anything but ask again', async () => {
    const asker = askToPair('too-late', 'j');
    await waitFor(() => asker.updates.length > 0, { what: 'a pending request' });
    const requestId = (asker.updates[0] as { requestId: string }).requestId;
    await asker.ended;
    await expect(operator.nodes.pair.approve.mutate({ requestId })).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
    await expect(asker.client.node.hello.mutate({ commands: [] })).rejects.toMatchObject({
      code: 'NOT_PAIRED',
    });
    await expect(
      operator.nodes.invoke.mutate({
        nodeId: 'too-late',
        command: 'system.info',
        idempotencyKey: 'x',
      }),
    ).rejects.toMatchObject({
      code: 'NOT_PAIRED',
    });
  });
});
