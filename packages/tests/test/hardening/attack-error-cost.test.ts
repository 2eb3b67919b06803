/**
 * What a refused request costs the gateway. An operator with the narrowest
 * role (or a paired node: same door, same refusals) may send as many bad
 * requests as it likes, each a few dozen bytes: every one must be refused
 * for about what a good one costs, not for a formatted stack trace it will
 * never see. Real gateway in this process (so its stack formatting can be
 * counted), a raw socket speaking tRPC's wire format (row 56 of
 * docs/hardening.md).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createOperatorToken,
  type OperatorSocket,
  openOperatorSocket,
  resultData,
  type TrpcFrame,
} from '../../src/hardening/index.js';
import { startTestGateway, type TestGateway } from '../../src/index.js';

let gw: TestGateway;
let reader: OperatorSocket;
beforeAll(async () => {
  gw = await startTestGateway();
  const token = await createOperatorToken(gw.url, gw.token, 'reader', 'operator.read');
  reader = await openOperatorSocket(gw.url, token);
});
afterAll(async () => {
  reader?.ws.close();
  await gw?.stop();
});

function query(id: number, path: string, input: unknown): string {
  return JSON.stringify({ id, method: 'query', params: { path, input: { json: input } } });
}

/** Each kind of bad request a peer can repeat, with the code it must get. */
const BAD_REQUESTS: { kind: string; frame: (id: number) => string; code: string }[] = [
  {
    kind: 'schema-invalid input',
    frame: (id) => query(id, 'nodes.describe', { node: 5 }),
    code: 'BAD_REQUEST',
  },
  { kind: 'malformed JSON', frame: (id) => `{"id":${id},"method":`, code: 'BAD_REQUEST' },
  {
    kind: 'a "__proto__" key',
    frame: (id) => `{"id":${id},"method":"query","params":{"path":"health","__proto__":{}}}`,
    code: 'BAD_REQUEST',
  },
  { kind: 'unknown procedure', frame: (id) => query(id, 'no.such', null), code: 'NOT_FOUND' },
  {
    kind: 'a procedure above its role',
    frame: (id) => query(id, 'tokens.list', null),
    code: 'FORBIDDEN',
  },
];

/**
 * Sends `count` frames at once and reads every answer, counting the stack
 * traces formatted in this process meanwhile (V8 calls
 * `Error.prepareStackTrace` once per stack it formats) and the CPU spent.
 */
async function flood(
  frame: (id: number) => string,
  count: number,
): Promise<{ answers: TrpcFrame[]; stacksFormatted: number; cpuMicrosPerRequest: number }> {
  let stacksFormatted = 0;
  const previous = Error.prepareStackTrace;
  Error.prepareStackTrace = (error, frames) => {
    stacksFormatted++;
    return previous
      ? previous(error, frames)
      : `${String(error)}${frames.map((f) => `\n    at ${f}`).join('')}`;
  };
  const cpuBefore = process.cpuUsage();
  try {
    for (let i = 1; i <= count; i++) reader.ws.send(frame(i));
    const answers: TrpcFrame[] = [];
    for (let i = 0; i < count; i++) answers.push(await reader.next(30_000));
    const cpu = process.cpuUsage(cpuBefore);
    return { answers, stacksFormatted, cpuMicrosPerRequest: (cpu.user + cpu.system) / count };
  } finally {
    Error.prepareStackTrace = previous;
  }
}

describe('the cost of a refused request', () => {
  it('row 56: 1 000 bad requests of each kind from a read-only operator are refused with their code and format no stack trace', async () => {
    const count = 1_000;
    const figures: string[] = [];
    // warm-up, so the figures compare steady states
    await flood((id) => query(id, 'health', null), count);
    const good = await flood((id) => query(id, 'health', null), count);
    figures.push(`health (good): ${good.cpuMicrosPerRequest.toFixed(1)} µs CPU per request`);
    for (const { kind, frame, code } of BAD_REQUESTS) {
      await flood(frame, count);
      const bad = await flood(frame, count);
      expect(
        bad.answers.every((a) => a.error?.json.data.gatewayCode === code),
        `${kind}: every answer is ${code}`,
      ).toBe(true);
      expect(bad.stacksFormatted, `${kind}: stack traces formatted for ${count} refusals`).toBe(0);
      figures.push(
        `${kind}: ${bad.cpuMicrosPerRequest.toFixed(1)} µs CPU per request, ${bad.stacksFormatted} stacks formatted`,
      );
    }
    // CPU of this process (gateway and the raw client both): a figure for the report, not a bound.
    console.log(`row 56, ${count} requests each:\n  ${figures.join('\n  ')}`);
    // the reader is still served
    expect(resultData<{ ok: boolean }>(await reader.call(9_999_999, 'health')).ok).toBe(true);
  });
});
