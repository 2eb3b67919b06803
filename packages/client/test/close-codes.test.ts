import { CloseCode, GatewayError } from '@loopgate/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { createClientFor, type GatewayClient, type GatewayClientOptions } from '../src/client.js';
import { rejectionOf, startRawServer, waitForState } from './helpers.js';
import type { StockRouter } from './stock-server.js';

/**
 * What the Loopgate gateway does beyond the stock server — close codes 4001
 * and 4029, plain-HTTP refusals before the upgrade — played by a bare `ws`
 * server, so the client's reaction is checked on the real wire.
 */
const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function client(url: string, options: GatewayClientOptions = {}): GatewayClient<StockRouter> {
  const c = createClientFor<StockRouter>({
    url,
    token: 't',
    reconnect: { baseMs: 5, capMs: 20 },
    ...options,
  });
  cleanups.push(() => c.close());
  return c;
}

/** Long enough for several retries at the 5–20 ms backoff used here. */
const retryWindow = () => new Promise((resolve) => setTimeout(resolve, 150));

describe('gateway close codes and refusals', () => {
  it('close 4001 after connectionParams: unauthorized, pending calls fail, no retry', async () => {
    const server = await startRawServer({
      onSocket: (socket) => socket.close(CloseCode.unauthorized, 'UNAUTHORIZED: invalid token'),
    });
    cleanups.push(() => server.close());
    const c = client(server.url);
    const error = await rejectionOf(c.health.query());
    expect(error.code).toBe('UNAUTHORIZED');
    expect(error.message).toBe('invalid token');
    expect(error.describe()).toMatch(/check the credential: --token/);
    await waitForState(c, (s) => s.state === 'unauthorized', 1_000);
    await retryWindow();
    expect(server.connections).toBe(1);
  });

  it('close 4029: RATE_LIMITED with retryAfterMs, and no reconnect before it has passed', async () => {
    const server = await startRawServer({
      onSocket: (socket) =>
        socket.close(
          CloseCode.rateLimited,
          'RATE_LIMITED: too many failed attempts retryAfterMs=60000',
        ),
    });
    cleanups.push(() => server.close());
    const c = client(server.url);
    const error = await rejectionOf(c.health.query());
    expect(error.code).toBe('RATE_LIMITED');
    expect(error.details).toMatchObject({ retryAfterMs: 60_000 });
    const state = await waitForState(c, (s) => s.state === 'reconnecting');
    expect(state.state === 'reconnecting' && state.error?.code).toBe('RATE_LIMITED');
    await retryWindow();
    expect(server.connections).toBe(1);
  });

  it('HTTP 429 with Retry-After before the upgrade: RATE_LIMITED, waits that long', async () => {
    const server = await startRawServer({
      refuse: () => ({
        status: 429,
        headers: { 'retry-after': '30' },
        body: 'too many connections from this address',
      }),
    });
    cleanups.push(() => server.close());
    const c = client(server.url);
    const error = await rejectionOf(c.health.query());
    expect(error.code).toBe('RATE_LIMITED');
    expect(error.message).toMatch(/HTTP 429\): too many connections from this address$/);
    expect(error.details).toMatchObject({ retryAfterMs: 30_000 });
    await retryWindow();
    expect(server.upgrades).toBe(1);
  });

  it('HTTP 403 before the upgrade is final and says why', async () => {
    const server = await startRawServer({
      refuse: () => ({ status: 403, body: 'origin not allowed' }),
    });
    cleanups.push(() => server.close());
    const c = client(server.url);
    const error = await rejectionOf(c.health.query());
    expect(error.code).toBe('FORBIDDEN');
    expect(error.message).toMatch(/origin not allowed$/);
    const state = await waitForState(c, (s) => s.state === 'closed');
    expect(state.state === 'closed' && state.error?.code).toBe('FORBIDDEN');
    await retryWindow();
    expect(server.upgrades).toBe(1);
  });

  it('HTTP 503 (shutting down) is retried', async () => {
    const server = await startRawServer({
      refuse: () => ({ status: 503, body: 'gateway shutting down' }),
    });
    cleanups.push(() => server.close());
    const c = client(server.url);
    expect((await rejectionOf(c.health.query())).code).toBe('UNAVAILABLE');
    await waitForState(c, (s) => s.state === 'reconnecting' && s.attempt >= 3);
    expect(server.upgrades).toBeGreaterThanOrEqual(3);
  });

  it('a socket factory reporting a TLS pin mismatch ends in pin-mismatch, not retries', async () => {
    let attempts = 0;
    const mismatch = new GatewayError('TLS_PIN_MISMATCH', 'expected AA:BB, presented CC:DD');
    const c = client('wss://127.0.0.1:1', {
      createSocket: () => {
        attempts++;
        throw mismatch;
      },
    });
    expect(await rejectionOf(c.health.query())).toBe(mismatch);
    expect(c.connection.get()).toEqual({ state: 'pin-mismatch', error: mismatch });
    await retryWindow();
    expect(attempts).toBe(1);
  });
});
