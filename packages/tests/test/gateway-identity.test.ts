import { request } from 'node:http';
import {
  GATEWAY_PROCEDURES,
  IDENTITY_HEADERS,
  LOOPGATE_VERSION,
  procedureSetHash,
} from '@loopgate/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { servedProcedures } from '../../gateway/src/router/app-router.js';
import { startTestGateway, type TestGateway } from '../src/index.js';

/* The gateway says what it is on every HTTP answer, so `gateway probe` can tell it from other servers and spot skew. */

describe('procedure set', () => {
  it('the router serves exactly the procedures the protocol lists (add new ones to GATEWAY_PROCEDURES)', () => {
    expect(servedProcedures()).toEqual(GATEWAY_PROCEDURES);
  });

  it('the hash ignores order and changes with any path or kind', () => {
    const reversed = Object.fromEntries(Object.entries(GATEWAY_PROCEDURES).reverse());
    expect(procedureSetHash(reversed)).toBe(procedureSetHash(GATEWAY_PROCEDURES));
    expect(procedureSetHash({ ...GATEWAY_PROCEDURES, health: 'mutation' })).not.toBe(
      procedureSetHash(GATEWAY_PROCEDURES),
    );
    expect(procedureSetHash({ ...GATEWAY_PROCEDURES, extra: 'query' })).not.toBe(
      procedureSetHash(GATEWAY_PROCEDURES),
    );
  });
});

describe('identity headers', () => {
  let gw: TestGateway;
  const expected = {
    [IDENTITY_HEADERS.version]: LOOPGATE_VERSION,
    [IDENTITY_HEADERS.procedures]: procedureSetHash(GATEWAY_PROCEDURES),
  };
  beforeAll(async () => {
    gw = await startTestGateway();
  });
  afterAll(async () => {
    await gw?.stop();
  });

  it('the 101 upgrade answer carries the version and procedure-set hash, before any credential', async () => {
    const headers = await new Promise<Record<string, unknown>>((resolve, reject) => {
      const ws = new WebSocket(gw.url);
      ws.once('upgrade', (res) => {
        resolve(res.headers);
        ws.terminate();
      });
      ws.once('error', reject);
    });
    expect(headers).toMatchObject(expected);
  });

  it('a refused upgrade (bad Host) and a plain HTTP request carry them too', async () => {
    const refused = await new Promise<{ status: number; headers: Record<string, unknown> }>(
      (resolve, reject) => {
        const ws = new WebSocket(gw.url, { headers: { host: 'evil.example' } });
        ws.once('unexpected-response', (_req, res) => {
          resolve({ status: res.statusCode ?? 0, headers: res.headers });
          res.destroy();
        });
        ws.once('error', reject);
      },
    );
    expect(refused.status).toBe(421);
    expect(refused.headers).toMatchObject(expected);

    const plain = await new Promise<{ status: number; headers: Record<string, unknown> }>(
      (resolve, reject) => {
        const req = request({ host: '127.0.0.1', port: gw.port, path: '/' }, (res) => {
          res.resume();
          resolve({ status: res.statusCode ?? 0, headers: res.headers });
        });
        req.once('error', reject);
        req.end();
      },
    );
    expect(plain.status).toBe(426);
    expect(plain.headers).toMatchObject(expected);
  });
});
