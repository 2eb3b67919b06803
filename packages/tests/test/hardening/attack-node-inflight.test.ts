/**
 * A writer piling up invocations against a node that never answers: each
 * unanswered call is held until its timeout (up to an hour), so without a
 * cap per node an operator with write scope, or an agent run a webhook
 * sender drives, grows the gateway's memory for as long as it keeps asking.
 * The same holds for one idempotency key sent again and again: each retry
 * joins the running call as one more caller.
 * A real gateway process, a paired node speaking the real wire format that
 * stays silent, an operator pipelining calls over a raw socket.
 */
import { describe, expect, it } from 'vitest';
import {
  openOperatorSocket,
  pairHostileNode,
  resultData,
  useSilentNodeGateway,
} from '../../src/hardening/index.js';

/** The default of gateway.nodes.maxInFlightPerNode. */
const DEFAULT_CAP = 256;
const OVER = 40;
const HOUR = 60 * 60 * 1000;

type ListedNode = { name: string; inFlight: number };

async function inFlightOf(url: string, token: string, name: string): Promise<number> {
  const op = await openOperatorSocket(url, token);
  try {
    const frame = await op.call(1, 'nodes.list');
    const nodes = resultData<ListedNode[]>(frame);
    return nodes.find((n) => n.name === name)?.inFlight ?? -1;
  } finally {
    op.ws.close();
  }
}

describe('row 63: invocations piled up against a silent node', { timeout: 90_000 }, () => {
  const gw = useSilentNodeGateway();

  it('row 63: past gateway.nodes.maxInFlightPerNode unanswered calls (each with a 1 h timeout) the next is refused LIMIT_EXCEEDED naming the setting and the node; another node is not held, and the places are freed when the calls fail', async () => {
    const input = (i: number) => ({
      json: {
        nodeId: 'silent-node',
        command: 'system.info',
        timeoutMs: HOUR,
        idempotencyKey: `pile-${i}`,
      },
    });
    for (let i = 1; i <= DEFAULT_CAP + OVER; i++) {
      gw.operator.ws.send(
        JSON.stringify({
          id: i,
          method: 'mutation',
          params: { path: 'nodes.invoke', input: input(i) },
        }),
      );
    }
    // The node never answers: the only frames that can come back are refusals.
    const refused: { id: unknown; code?: string; message?: string }[] = [];
    for (let i = 0; i < OVER; i++) {
      const frame = await gw.operator.next(20_000);
      refused.push({
        id: frame.id,
        code: frame.error?.json.data.gatewayCode,
        message: frame.error?.json.message,
      });
    }
    expect(new Set(refused.map((r) => r.code))).toEqual(new Set(['LIMIT_EXCEEDED']));
    expect(refused[0]?.message).toMatch(/silent-node/);
    expect(refused[0]?.message).toMatch(/gateway\.nodes\.maxInFlightPerNode \(256\)/);
    expect(refused.map((r) => r.id)).toEqual(
      Array.from({ length: OVER }, (_, i) => DEFAULT_CAP + 1 + i),
    );
    expect(await inFlightOf(gw.proc.url, gw.proc.token, 'silent-node')).toBe(DEFAULT_CAP);

    // Another node is not held by this one's cap.
    const other = await pairHostileNode(gw.proc.url, gw.proc.token, 'other-node');
    other.answerWith(
      (invocationId) =>
        `{"json":{"invocationId":${JSON.stringify(invocationId)},"ok":true,"payload":"up"}}`,
    );
    const op = await openOperatorSocket(gw.proc.url, gw.proc.token);
    const answered = await op.call(
      1,
      'nodes.invoke',
      {
        nodeId: 'other-node',
        command: 'system.info',
        timeoutMs: 10_000,
        idempotencyKey: 'other-1',
      },
      'mutation',
    );
    op.ws.close();
    other.close();
    expect(answered.error?.json.message).toBeUndefined();
    expect(resultData<{ payload: unknown }>(answered)?.payload).toBe('up');

    // The silent node goes away: every piled call fails NODE_DISCONNECTED and its place is freed.
    gw.node.close();
    const codes = new Set<string | undefined>();
    for (let i = 0; i < DEFAULT_CAP; i++) {
      codes.add((await gw.operator.next(20_000)).error?.json.data.gatewayCode);
    }
    expect(codes).toEqual(new Set(['NODE_DISCONNECTED']));
    expect(await inFlightOf(gw.proc.url, gw.proc.token, 'silent-node')).toBe(0);
  });
});

describe('row 67: one idempotency key sent again and again against a silent node', {
  timeout: 90_000,
}, () => {
  const gw = useSilentNodeGateway();

  it('row 67: past 32 callers waiting on one running invocation, a retry under its key is refused LIMIT_EXCEEDED naming the key; the callers held get the outcome', async () => {
    const SENT = 2_000;
    const input = {
      json: {
        nodeId: 'silent-node',
        command: 'system.info',
        timeoutMs: HOUR,
        idempotencyKey: 'same',
      },
    };
    for (let i = 1; i <= SENT; i++) {
      gw.operator.ws.send(
        JSON.stringify({ id: i, method: 'mutation', params: { path: 'nodes.invoke', input } }),
      );
    }
    const held = 32;
    const codes = new Map<string, number>();
    let firstMessage = '';
    for (let i = 0; i < SENT - held; i++) {
      const frame = await gw.operator.next(20_000);
      const code = frame.error?.json.data.gatewayCode ?? 'answered';
      firstMessage ||= frame.error?.json.message ?? '';
      codes.set(code, (codes.get(code) ?? 0) + 1);
    }
    expect(Object.fromEntries(codes)).toEqual({ LIMIT_EXCEEDED: SENT - held });
    expect(firstMessage).toMatch(/idempotencyKey "same".*silent-node.*at most 32/);
    expect(await inFlightOf(gw.proc.url, gw.proc.token, 'silent-node')).toBe(1);

    // The node goes away: each caller held gets the outcome, once.
    gw.node.close();
    for (let i = 0; i < held; i++) {
      expect((await gw.operator.next(20_000)).error?.json.data.gatewayCode).toBe(
        'NODE_DISCONNECTED',
      );
    }
  });
});
