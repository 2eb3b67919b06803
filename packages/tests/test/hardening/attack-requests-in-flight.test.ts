/**
 * A writer pipelining calls that wait: `agent.wait` on a run that does not
 * end holds a timer, a promise and a listener per call for up to ten
 * minutes, and nothing bounded how many one connection had running. A real
 * gateway process, a node paired for real that stays silent (so the agent
 * run that invokes it keeps going), a raw operator socket.
 */
import { describe, expect, it } from 'vitest';
import { resultData, useSilentNodeGateway } from '../../src/hardening/index.js';

/** The default of gateway.limits.maxRequestsInFlightPerConnection. */
const CAP = 1024;
const OVER = 100;

describe('row 70: calls that wait, pipelined on one connection', { timeout: 120_000 }, () => {
  const gw = useSilentNodeGateway({
    config: { gateway: { nodes: { invokeTimeoutMs: 120_000 } } },
  });

  it('row 70: past gateway.limits.maxRequestsInFlightPerConnection agent.wait calls running, the next is refused LIMIT_EXCEEDED naming the setting; the held ones get the result', async () => {
    const started = await gw.operator.call(
      1,
      'agent',
      { message: '/invoke silent-node system.info', idempotencyKey: 'long-run' },
      'mutation',
    );
    const runId = resultData<{ runId: string }>(started)?.runId;
    expect(runId, started.error?.json.message).toMatch(/./);
    const input = { json: { runId, timeoutMs: 600_000 } };
    for (let i = 0; i < CAP + OVER; i++) {
      gw.operator.ws.send(
        JSON.stringify({ id: 100 + i, method: 'query', params: { path: 'agent.wait', input } }),
      );
    }
    // The run waits on a silent node: the only answers that can come now are refusals.
    const refused = new Map<string, number>();
    let message = '';
    for (let i = 0; i < OVER; i++) {
      const frame = await gw.operator.next(30_000);
      const code = frame.error?.json.data.gatewayCode ?? 'answered';
      message ||= frame.error?.json.message ?? '';
      refused.set(code, (refused.get(code) ?? 0) + 1);
    }
    expect(Object.fromEntries(refused)).toEqual({ LIMIT_EXCEEDED: OVER });
    expect(message).toMatch(/gateway\.limits\.maxRequestsInFlightPerConnection \(1024\)/);

    // The node goes away: the run ends, and every wait held gets its result.
    gw.node.close();
    const states = new Set<string>();
    for (let i = 0; i < CAP; i++) {
      const frame = await gw.operator.next(30_000);
      states.add(frame.error ? `error ${frame.error.json.data.gatewayCode}` : 'result');
    }
    expect(states).toEqual(new Set(['result']));
  });
});
