/**
 * Guessing a password past the failed-authentication lockout, as an outside
 * attacker would try it (rows 35 and 36 of docs/hardening.md): real gateway,
 * raw sockets, source addresses picked on loopback.
 */
import { NodeKey } from '@loopgate/node';
import { NODE_CHALLENGE_HEADER } from '@loopgate/protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  nodeParams,
  openRawWebSocket,
  type RawWebSocket,
  sendConnectionParams,
} from '../../src/hardening/index.js';
import { startTestGateway, type TestGateway } from '../../src/index.js';

const PASSWORD = 'the-right-password-5678';
/** The read-only operator token minted for the lesser-credential case. */
let readToken = '';

type Attempt = { localAddress: string; headers?: Record<string, string> };

/**
 * One connect with `params`: the HTTP status when the upgrade is refused,
 * the gateway code of the frame it answered with, or `ok` when the socket
 * authenticated (answered a PING after the params, with no error first).
 */
async function attempt(
  gw: TestGateway,
  from: Attempt,
  params: Record<string, string> | ((challenge: string) => Record<string, string>),
): Promise<string> {
  const ws: RawWebSocket = await openRawWebSocket({
    port: gw.port,
    path: '/?connectionParams=1',
    localAddress: from.localAddress,
    ...(from.headers ? { headers: from.headers } : {}),
  });
  try {
    if (ws.status !== 101) return String(ws.status);
    const data =
      typeof params === 'function'
        ? params(String(ws.headers[NODE_CHALLENGE_HEADER] ?? ''))
        : params;
    sendConnectionParams(ws, data);
    ws.sendText('PING');
    const text = await ws.nextText();
    if (text === 'PONG') return 'ok';
    return (JSON.parse(text) as { error: { json: { data: { gatewayCode: string } } } }).error.json
      .data.gatewayCode;
  } finally {
    ws.destroy();
  }
}

function tally(answers: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const a of answers) out[a] = (out[a] ?? 0) + 1;
  return out;
}

describe('row 35: a success with a lesser credential does not wipe a guesser’s failures', () => {
  let gw: TestGateway;
  beforeEach(async () => {
    gw = await startTestGateway({ config: { gateway: { auth: { password: PASSWORD } } } });
    const minted = await gw.gateway.services.operatorTokens.create({
      name: 'reader',
      scope: 'operator.read',
    });
    readToken = minted.token;
  });
  afterEach(() => gw.stop());

  // A browser-style Origin puts a loopback peer under the per-address policy
  // (10 failures), as a remote peer is: that is the bucket a success used to clear.
  const from = (port: number): Attempt => ({
    localAddress: '127.0.0.5',
    headers: { Origin: `http://127.0.0.1:${port}` },
  });

  it('row 35: 27 wrong passwords with a throwaway pairing key proven after every 9 are locked out after 10', async () => {
    const guesses: string[] = [];
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 9; i++)
        guesses.push(await attempt(gw, from(gw.port), { password: `wrong-${round}-${i}` }));
      // A key made up on the spot proves nothing; it must not count as a success.
      await attempt(gw, from(gw.port), nodeParams(NodeKey.generate()));
    }
    expect(tally(guesses)).toEqual({ UNAUTHORIZED: 10, '429': 17 });
  });

  it('row 35: 27 wrong passwords with an operator.read token used after every 9 are locked out after 10', async () => {
    const guesses: string[] = [];
    const reads: string[] = [];
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 9; i++)
        guesses.push(await attempt(gw, from(gw.port), { password: `wrong-${round}-${i}` }));
      reads.push(await attempt(gw, from(gw.port), { token: readToken }));
    }
    expect(reads[0]).toBe('ok');
    expect(tally(guesses)).toEqual({ UNAUTHORIZED: 10, '429': 17 });
  });
});

describe('row 36: loopback source addresses are one peer to the lockout', () => {
  let gw: TestGateway;
  beforeEach(async () => {
    gw = await startTestGateway({ config: { gateway: { auth: { password: PASSWORD } } } });
  });
  afterEach(() => gw.stop());

  /** 10 wrong passwords from each of 127.0.0.2 … 127.0.0.7, every request carrying `headers`. */
  const rotateSourceAddresses = async (headers: Record<string, string>): Promise<string[]> => {
    const guesses: string[] = [];
    for (let host = 2; host < 8; host++) {
      for (let i = 0; i < 10; i++) {
        const from = { localAddress: `127.0.0.${host}`, headers };
        guesses.push(await attempt(gw, from, { password: `wrong-${host}-${i}` }));
      }
    }
    return guesses;
  };

  it('row 36: 60 wrong passwords from 6 loopback addresses, each with a forwarding header, are locked out after 10', async () => {
    const guesses = await rotateSourceAddresses({ 'X-Forwarded-For': '198.51.100.7' });
    expect(tally(guesses)).toEqual({ UNAUTHORIZED: 10, '429': 50 });
  });

  it('row 36: 60 wrong passwords from 6 loopback addresses with a same-origin Origin are locked out after 10', async () => {
    const guesses = await rotateSourceAddresses({ Origin: `http://127.0.0.1:${gw.port}` });
    expect(tally(guesses)).toEqual({ UNAUTHORIZED: 10, '429': 50 });
  });

  it('row 36: the plain local CLI keeps its own, larger loopback bucket while proxied guessers are locked out', async () => {
    for (let i = 0; i < 10; i++)
      await attempt(
        gw,
        { localAddress: '127.0.0.9', headers: { 'X-Forwarded-For': '198.51.100.7' } },
        { password: `wrong-${i}` },
      );
    expect(await attempt(gw, { localAddress: '127.0.0.1' }, { password: PASSWORD })).toBe('ok');
  });
});
