import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CloseCode } from '@loopgate/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { openOperatorSocket, resultData } from '../src/hardening/index.js';
import { startTestGateway, type TestGateway } from '../src/index.js';

/*
 * Rotating the generated token must end every operator session opened with
 * the old one, not only refuse new connections: a leaked token stays useful
 * for as long as a socket opened with it stays open.
 */
describe('auth.rotateToken over real sockets', () => {
  let gw: TestGateway | undefined;
  afterEach(async () => {
    await gw?.stop();
    gw = undefined;
  });

  it('closes every operator socket still on the old token with 4001, the rotating one after its reply', async () => {
    gw = await startTestGateway();
    const bystander = await openOperatorSocket(gw.url, gw.token);
    const rotating = await openOperatorSocket(gw.url, gw.token);
    expect(resultData<{ ok: boolean }>(await bystander.call(1, 'health')).ok).toBe(true);

    const reply = await rotating.call(1, 'auth.rotateToken', null, 'mutation');
    const { tokenPath } = resultData<{ tokenPath: string }>(reply);
    expect(tokenPath).toBe(join(gw.stateDir, 'gateway-token'));

    const bounded = <T>(promise: Promise<T>, what: string) =>
      Promise.race([
        promise,
        new Promise<never>((_, reject) =>
          setTimeout(() => reject(new Error(`${what} was not closed within 5 s`)), 5_000),
        ),
      ]);
    for (const [what, socket] of [
      ['the other operator on the old token', bystander],
      ['the operator that rotated', rotating],
    ] as const) {
      const closed = await bounded(socket.closed, what);
      expect(closed.code, what).toBe(CloseCode.unauthorized);
      expect(closed.reason, what).toMatch(/token was rotated/);
    }

    const fresh = (await readFile(tokenPath, 'utf8')).trim();
    expect(fresh).not.toBe(gw.token);
    const withNew = await openOperatorSocket(gw.url, fresh);
    expect(resultData<{ ok: boolean }>(await withNew.call(1, 'health')).ok).toBe(true);
    withNew.ws.close();
  });
});
