import { fastTransformer, GatewayError } from '@loopgate/protocol';
import { createTRPCClient, createWSClient, TRPCClientError, wsLink } from '@trpc/client';
import superjson from 'superjson';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createClientFor } from '../src/client.js';
import { toGatewayError } from '../src/errors.js';
import { loopgateLink } from '../src/link.js';
import { DEFAULT_TRANSPORT_OPTIONS, GatewayTransport } from '../src/transport.js';
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

  it("tRPC's own createTRPCClient works over loopgateLink, errors carrying the gateway error", async () => {
    const server = await startStockServer();
    cleanups.push(() => server.stop());
    const transport = new GatewayTransport({
      ...DEFAULT_TRANSPORT_OPTIONS,
      url: server.url,
      connectionParams: { token: 'x' },
      transformer: fastTransformer,
      retry: false,
      createSocket: (url, options) => new WebSocket(url, options),
    });
    cleanups.push(() => transport.close());
    const trpc = createTRPCClient<StockRouter>({ links: [loopgateLink<StockRouter>(transport)] });

    expect((await trpc.health.query()).at).toBeInstanceOf(Date);
    expect(await trpc.add.mutate({ a: 20, b: 22 })).toBe(42);

    const error = await trpc.notConnected.query().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TRPCClientError);
    const trpcError = error as TRPCClientError<StockRouter>;
    expect(trpcError.data?.gatewayCode).toBe('NOT_CONNECTED');
    expect(trpcError.cause).toBeInstanceOf(GatewayError);
    expect(toGatewayError(error)).toBe(trpcError.cause);

    const received: string[] = [];
    let started = 0;
    const done = new Promise<void>((resolve) => {
      trpc.events.subscribe(undefined, {
        onStarted: () => started++,
        onData(value) {
          received.push(value.id);
          if (received.length === 2) resolve();
        },
      });
    });
    await trpc.health.query();
    server.emit('one');
    server.emit('two');
    await done;
    expect(received).toEqual(['1', '2']);
    expect(started).toBe(1);
  });
});
