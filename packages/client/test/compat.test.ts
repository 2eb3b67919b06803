import { createTRPCClient, createWSClient, wsLink } from '@trpc/client';
import superjson from 'superjson';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createClientFor } from '../src/client.js';
import { toGatewayError } from '../src/errors.js';
import { fastTransformer } from '../src/fast-transformer.js';
import { type StockEvent, type StockRouter, startStockServer } from './stock-server.js';

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/**
 * Speed must never come from a private wire format: a stock tRPC client
 * configured with superjson works against a server using the fast
 * transformer, and our client works against a stock superjson server (the
 * rest of the suite) and a fast-transformer one (here).
 */
describe('wire compatibility', () => {
  it('a stock createWSClient + wsLink (superjson) talks to a server using the fast transformer', async () => {
    const server = await startStockServer({ transformer: fastTransformer });
    cleanups.push(() => server.stop());
    const wsClient = createWSClient({
      url: server.url,
      connectionParams: { token: 'x' },
      WebSocket: WebSocket as unknown as typeof globalThis.WebSocket,
    });
    cleanups.push(() => wsClient.close());
    const stock = createTRPCClient<StockRouter>({
      links: [wsLink({ client: wsClient, transformer: superjson })],
    });

    const health = await stock.health.query();
    expect(health.at).toBeInstanceOf(Date);
    const tricky = {
      big: 7n,
      when: new Date(9),
      map: new Map([['k', [1, undefined]]]),
      list: [1, 'a', null],
    };
    expect(await stock.echo.query(tricky)).toEqual(tricky);
    expect(await stock.add.mutate({ a: 1, b: 2 })).toBe(3);

    const error = await stock.notConnected.query().catch((e: unknown) => e);
    const mapped = toGatewayError(error);
    expect(mapped.code).toBe('NOT_CONNECTED');
    expect(mapped.details).toEqual({ nodeId: 'pi' });

    const received: { id: string; data: StockEvent }[] = [];
    const done = new Promise<void>((resolve) => {
      stock.events.subscribe(undefined, {
        onData(value) {
          received.push(value);
          if (received.length === 2) resolve();
        },
      });
    });
    server.emit('one');
    server.emit('two');
    await done;
    expect(received).toEqual([
      { id: '1', data: { seq: 1, text: 'one' } },
      { id: '2', data: { seq: 2, text: 'two' } },
    ]);
  });

  it('our client talks to a server using the fast transformer', async () => {
    const server = await startStockServer({ transformer: fastTransformer });
    cleanups.push(() => server.stop());
    const client = createClientFor<StockRouter>({ url: server.url, token: 'x' });
    cleanups.push(() => client.close());
    expect((await client.health.query()).at).toBeInstanceOf(Date);
    const tricky = { big: 7n, set: new Set([1]), nested: { deep: [{ x: -0 }] } };
    expect(await client.echo.query(tricky)).toEqual(tricky);
  });
});
