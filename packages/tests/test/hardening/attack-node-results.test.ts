/**
 * A paired node making the gateway hold its answers (row 41 of
 * docs/hardening.md): every invocation with an idempotency key (the CLI,
 * the dashboard and agent tool calls all send one) is remembered for the
 * window, result included. A real gateway process, a hostile node speaking
 * the real wire format, an operator invoking it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type GatewayProcess,
  type HostileNode,
  type OperatorSocket,
  openOperatorSocket,
  pairHostileNode,
  startGatewayProcess,
} from '../../src/hardening/index.js';

const MiB = 1024 * 1024;
/** Just under the default maxResultBytes (4 MiB) and frame limit. */
const RESULT_CHARS = 3.5 * MiB;
const CALLS = 40;

describe('row 41: large node results and the idempotency window', () => {
  let proc: GatewayProcess;
  let node: HostileNode;
  let caller: OperatorSocket;
  let delivered = 0;
  beforeAll(async () => {
    proc = await startGatewayProcess();
    node = await pairHostileNode(proc.url, proc.token, 'big-node');
    const filler = 'x'.repeat(RESULT_CHARS);
    node.answerWith((invocationId) => {
      delivered++;
      return `{"json":{"invocationId":${JSON.stringify(invocationId)},"ok":true,"payload":"${filler}"}}`;
    });
    caller = await openOperatorSocket(proc.url, proc.token);
  });
  afterAll(async () => {
    caller.ws.close();
    node.close();
    await proc.stop();
  });

  let nextId = 1;
  const invoke = async (key: string) => {
    const frame = await caller.call(
      nextId++,
      'nodes.invoke',
      { nodeId: 'big-node', command: 'system.info', idempotencyKey: key, timeoutMs: 10_000 },
      'mutation',
    );
    const data = frame.result?.data as
      | { json?: { replayed?: boolean; payload?: string } }
      | undefined;
    return {
      code: frame.error?.json.data.gatewayCode,
      message: frame.error?.json.message,
      replayed: data?.json?.replayed,
      chars: data?.json?.payload?.length,
    };
  };

  it('row 41: 40 results of 3.5 MiB, each under its own idempotency key, grow the gateway heap by at most 96 MiB; a retry never runs the command twice', async () => {
    await invoke('warm-up');
    const before = await proc.memory();
    for (let i = 0; i < CALLS; i++) {
      const outcome = await invoke(`big-${i}`);
      expect(outcome.chars, `call ${i}: ${outcome.message}`).toBe(RESULT_CHARS);
    }
    const after = await proc.memory();
    const grown = (after.heapUsed + after.external - before.heapUsed - before.external) / MiB;
    expect(grown, `heap + external grew ${grown.toFixed(1)} MiB`).toBeLessThanOrEqual(96);

    // Retries reach the node no more: the latest is answered from memory, the oldest is
    // refused by name (its result was not kept), and neither runs the command again.
    const ran = delivered;
    const latest = await invoke(`big-${CALLS - 1}`);
    expect(latest).toMatchObject({ replayed: true, chars: RESULT_CHARS });
    const oldest = await invoke('big-0');
    expect(oldest.code).toBe('CONFLICT');
    expect(oldest.message).toMatch(/big-0.*not kept/);
    expect(delivered).toBe(ran);
  });
});
