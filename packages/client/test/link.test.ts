import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type AppRouter, createGateway, type Gateway } from '@loopgate/gateway';
import { fastTransformer, GatewayError } from '@loopgate/protocol';
import { createTRPCClient, TRPCClientError } from '@trpc/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { toGatewayError } from '../src/errors.js';
import { loopgateLink } from '../src/link.js';
import { DEFAULT_TRANSPORT_OPTIONS, GatewayTransport } from '../src/transport.js';

/**
 * tRPC's own `createTRPCClient` over `loopgateLink`, against the real
 * gateway (127.0.0.1 port 0, temp state dir): a script that wants tRPC's
 * client API still gets the gateway's typed errors.
 */
let stateDir: string;
let gateway: Gateway;
let token: string;
beforeAll(async () => {
  stateDir = await mkdtemp(join(tmpdir(), 'loopgate-link-'));
  gateway = createGateway({ gateway: { port: 0 }, logging: { level: 'silent' } }, { stateDir });
  await gateway.start();
  token = (await readFile(gateway.tokenPath as string, 'utf8')).trim();
});
afterAll(async () => {
  await gateway?.stop('test finished');
  await rm(stateDir, { recursive: true, force: true });
});

describe('loopgateLink', () => {
  it("tRPC's own createTRPCClient works over loopgateLink, errors carrying the gateway error", async () => {
    const transport = new GatewayTransport({
      ...DEFAULT_TRANSPORT_OPTIONS,
      url: gateway.url,
      connectionParams: { token },
      transformer: fastTransformer,
      retry: false,
      createSocket: (url, options) => new WebSocket(url, options),
    });
    try {
      const trpc = createTRPCClient<AppRouter>({ links: [loopgateLink<AppRouter>(transport)] });
      expect((await trpc.health.query()).ok).toBe(true);
      expect((await trpc.status.query({ deep: false })).bind.port).toBe(gateway.port);

      const error = await trpc.callMethod.mutate({ method: 'no.such.thing' }).catch((e) => e);
      expect(error).toBeInstanceOf(TRPCClientError);
      const trpcError = error as TRPCClientError<AppRouter>;
      expect(trpcError.data?.gatewayCode).toBe('NOT_FOUND');
      expect(trpcError.cause).toBeInstanceOf(GatewayError);
      expect(toGatewayError(error)).toBe(trpcError.cause);

      const received: string[] = [];
      let started = 0;
      const done = new Promise<void>((resolve) => {
        trpc.events.subscribe(
          { types: ['session.reset'] },
          {
            onStarted: () => started++,
            onData({ data }) {
              if (data.type === 'session.reset') received.push(data.sessionId);
              if (received.length === 2) resolve();
            },
          },
        );
      });
      await trpc.health.query(); // the subscription is registered before this answer
      gateway.services.events.emit({ type: 'session.reset', sessionId: 'one' });
      gateway.services.events.emit({ type: 'session.reset', sessionId: 'two' });
      await done;
      expect(received).toEqual(['one', 'two']);
      expect(started).toBe(1);
    } finally {
      await transport.close();
    }
  });
});
