import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GatewayError } from '@loopgate/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { createClientFor, type GatewayClient, type GatewayClientOptions } from '../src/client.js';
import { rejectionOf } from './helpers.js';
import type { StockRouter } from './stock-server.js';

/**
 * What the client decides before any server answers. Its behaviour on the
 * wire (calls, batching, subscriptions, drops, restarts, refusals, close) is
 * tested against the real gateway in packages/tests/test/client-wire.test.ts.
 */
const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function client(url: string, options: GatewayClientOptions = {}): GatewayClient<StockRouter> {
  const c = createClientFor<StockRouter>({ url, token: 'right', ...options });
  cleanups.push(() => c.close());
  return c;
}

/** Long enough for several retries at the 5–20 ms backoff used here. */
const retryWindow = () => new Promise((resolve) => setTimeout(resolve, 150));

/** A port nothing listens on (bound, read, released). */
async function freePort(): Promise<number> {
  const http = createServer();
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const { port } = http.address() as AddressInfo;
  await new Promise<void>((resolve) => http.close(() => resolve()));
  return port;
}

describe('before connecting', () => {
  it('refuses a URL carrying credentials before connecting anywhere', () => {
    for (const url of ['ws://127.0.0.1:1/?token=abc', 'ws://user:pw@127.0.0.1:1']) {
      let error: unknown;
      try {
        createClientFor<StockRouter>({ url, token: 'x' });
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(GatewayError);
      expect((error as GatewayError).code).toBe('BAD_REQUEST');
      expect((error as GatewayError).message).not.toContain('abc');
    }
  });

  it('fails fast with a typed UNAVAILABLE naming the refused target when retry is off', async () => {
    const port = await freePort();
    const c = client(`ws://127.0.0.1:${port}`, { retry: false });
    const started = Date.now();
    const error = await rejectionOf(c.health.query());
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(error.code).toBe('UNAVAILABLE');
    expect(error.details).toEqual({ reason: 'ECONNREFUSED' });
    expect(error.message).toBe(
      `cannot connect to ws://127.0.0.1:${port}: connection refused — is the gateway running? (loopgate gateway run)`,
    );
    const state = c.connection.get();
    expect(state.state).toBe('closed');
    expect(state.state === 'closed' && state.error?.code).toBe('UNAVAILABLE');
  });
  it('a socket factory reporting a TLS pin mismatch ends in pin-mismatch, not retries', async () => {
    let attempts = 0;
    const mismatch = new GatewayError('TLS_PIN_MISMATCH', 'expected AA:BB, presented CC:DD');
    const c = createClientFor<StockRouter>({
      url: 'wss://127.0.0.1:1',
      token: 't',
      reconnect: { baseMs: 5, capMs: 20 },
      createSocket: () => {
        attempts++;
        throw mismatch;
      },
    });
    cleanups.push(() => c.close());
    expect(await rejectionOf(c.health.query())).toBe(mismatch);
    expect(c.connection.get()).toEqual({ state: 'pin-mismatch', error: mismatch });
    await retryWindow();
    expect(attempts).toBe(1);
  });
});
