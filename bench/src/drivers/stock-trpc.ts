import { createTRPCClient, createWSClient, wsLink } from '@trpc/client';
import type { AnyRouter } from '@trpc/server';
import superjson from 'superjson';
import WebSocket from 'ws';
import { type Caller, EventCounter, type Subscriber, type System } from './driver.js';

type StockClient = {
  health: { query(): Promise<unknown> };
  events: {
    subscribe(
      input: undefined,
      handlers: { onData(value: unknown): void; onStarted(): void; onError(error: unknown): void },
    ): { unsubscribe(): void };
  };
};

/**
 * tRPC 11 as its docs show it: `createWSClient` + `wsLink` + superjson. Used
 * against the stock `applyWSSHandler` server for the reference column.
 */
function stockClient(url: string, connectionParams: Record<string, string> | undefined) {
  const wsClient = createWSClient({
    url,
    ...(connectionParams ? { connectionParams } : {}),
    WebSocket: WebSocket as unknown as typeof globalThis.WebSocket,
  });
  const client = createTRPCClient<AnyRouter>({
    links: [wsLink({ client: wsClient, transformer: superjson })],
  }) as unknown as StockClient;
  return {
    client,
    close: async () => {
      await wsClient.close();
    },
  };
}

export function stockTrpcSystem(
  url: string,
  name = 'stock tRPC',
  connectionParams?: Record<string, string>,
): System {
  return {
    name,
    async connect(): Promise<Caller> {
      const { client, close } = stockClient(url, connectionParams);
      await client.health.query();
      return { call: () => client.health.query(), close };
    },
    async subscribe(): Promise<Subscriber> {
      const { client, close } = stockClient(url, connectionParams);
      const counter = new EventCounter();
      let subscription: { unsubscribe(): void } | undefined;
      await new Promise<void>((resolve, reject) => {
        subscription = client.events.subscribe(undefined, {
          onStarted: () => resolve(),
          onData: () => counter.tick(),
          onError: reject,
        });
      });
      return {
        get received() {
          return counter.received;
        },
        waitFor: (count, timeoutMs) => counter.waitFor(count, timeoutMs),
        close: async () => {
          subscription?.unsubscribe();
          await close();
        },
      };
    },
  };
}
