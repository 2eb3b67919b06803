/**
 * An operator's input whose superjson `meta` does not fit its `json`: an
 * unknown type name, or a path that runs through a number. superjson throws
 * while decoding such an input, and the gateway decoded it with nothing to
 * catch the throw, so one frame from any token, read-only included, ended
 * the gateway process. A real gateway process, a raw socket speaking tRPC's
 * wire format by hand.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createOperatorToken,
  type GatewayProcess,
  openOperatorSocket,
  startGatewayProcess,
} from '../../src/hardening/index.js';

/** Annotations no superjson sender would write for `{ a: 1 }`. */
const HOSTILE_METAS = [
  { values: ['bogus'] },
  { values: { a: ['map'] } },
  { values: { a: [['custom', 'no-such-transformer']] } },
  { values: { a: ['set'] }, referentialEqualities: { a: ['b.c'] } },
];

describe('row 72: an input whose superjson meta does not fit its json', { timeout: 60_000 }, () => {
  let proc: GatewayProcess;
  beforeAll(async () => {
    proc = await startGatewayProcess();
  });
  afterAll(async () => {
    await proc.stop();
  });

  it('row 72: a read-only operator sending such inputs gets BAD_REQUEST for each; the gateway keeps serving it and everyone else', async () => {
    const token = await createOperatorToken(proc.url, proc.token, 'meta-reader', 'operator.read');
    const peer = await openOperatorSocket(proc.url, token);
    const other = await openOperatorSocket(proc.url, proc.token);
    try {
      let id = 1;
      const answers: { code: string | undefined; message: string | undefined }[] = [];
      for (const meta of HOSTILE_METAS) {
        for (const [method, path] of [
          ['query', 'health'],
          ['subscription', 'events'],
        ] as const) {
          const sent = id++;
          peer.ws.send(
            JSON.stringify({ id: sent, method, params: { path, input: { json: { a: 1 }, meta } } }),
          );
          const answer = await peer.answerTo(sent);
          answers.push({
            code: answer.error?.json.data.gatewayCode,
            message: answer.error?.json.message,
          });
        }
      }
      expect(answers).toHaveLength(HOSTILE_METAS.length * 2);
      for (const answer of answers) {
        expect(answer.code).toBe('BAD_REQUEST');
        expect(answer.message).toMatch(
          /^invalid input: its superjson meta does not describe its json \(/,
        );
      }
      // the same socket, another operator: answered, by the same process
      expect((await peer.call(id++, 'health')).result).toBeDefined();
      expect((await other.call(1, 'health')).result).toBeDefined();
      const exited = await Promise.race([
        proc.exited.then(() => true),
        new Promise<false>((resolve) => setTimeout(() => resolve(false), 200)),
      ]);
      expect(exited, 'the gateway process ended').toBe(false);
    } finally {
      peer.ws.close();
      other.ws.close();
      await Promise.all([peer.closed, other.closed]);
    }
  });
});
