import { afterEach, describe, expect, it } from 'vitest';
import { createClientFor } from '../src/client.js';
import { rejectionOf } from './helpers.js';
import { type StockEvent, type StockRouter, startStockServer } from './stock-server.js';

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function waitUntil(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/**
 * Speed must never come from a private wire format. Every other wire test
 * of the client runs against the real gateway (packages/tests); this one
 * runs against a stock tRPC 11 server with plain superjson, because
 * compatibility with such a server is its point: the client speaks the
 * standard protocol, not one only the gateway understands.
 */
describe('wire compatibility', () => {
  it('compatibility: our client against a stock tRPC 11 server (superjson): values, errors, subscriptions, reconnect notifications', async () => {
    const server = await startStockServer();
    cleanups.push(() => server.stop());
    const client = createClientFor<StockRouter>({ url: server.url, token: 'x' });
    cleanups.push(() => client.close());

    expect((await client.health.query()).at).toBeInstanceOf(Date);
    const tricky = {
      when: new Date(5),
      tags: new Set(['a']),
      missing: undefined,
      big: 10n,
      map: new Map([['k', [1, undefined]]]),
      nested: { deep: [{ x: -0 }] },
    };
    expect(await client.echo.query(tricky)).toEqual(tricky);
    expect(await client.add.mutate({ a: 2, b: 40 })).toBe(42);

    const offline = await rejectionOf(client.notConnected.query());
    expect(offline.code).toBe('NOT_CONNECTED');
    expect(offline.message).toBe('node "pi" is offline');
    expect(offline.details).toEqual({ nodeId: 'pi' });

    const received: { id: string; data: StockEvent }[] = [];
    const done = new Promise<void>((resolve) => {
      client.events.subscribe(undefined, {
        onData(value) {
          received.push(value);
          if (received.length === 3) resolve();
        },
      });
    });
    await client.health.query(); // the subscription is registered before this answer
    server.emit('one');
    server.emit('two');
    await waitUntil(() => received.length === 2, 'two events');
    // A stock server asks its clients to reconnect before it restarts: the
    // subscription moves to a new socket and resumes after the last id.
    server.broadcastReconnect();
    await waitUntil(() => server.connections === 2, 'the client to reconnect');
    server.emit('three');
    await done;
    expect(received).toEqual([
      { id: '1', data: { seq: 1, text: 'one' } },
      { id: '2', data: { seq: 2, text: 'two' } },
      { id: '3', data: { seq: 3, text: 'three' } },
    ]);
    expect(client.connection.get().state).toBe('open');
  });
});
