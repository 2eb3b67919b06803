import { EventEmitter, on } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GatewayError, type GatewayErrorData, gatewayCodeFromTrpc } from '@loopgate/protocol';
import { initTRPC, TRPCError, tracked } from '@trpc/server';
import { applyWSSHandler } from '@trpc/server/adapters/ws';
import superjson from 'superjson';
import { WebSocketServer } from 'ws';

export type StockEvent = { seq: number; text: string };

/**
 * A stock tRPC 11 WebSocket server (`applyWSSHandler`, plain superjson) for
 * the one test whose point is compatibility with such a server
 * (compat.test.ts). Its error formatter adds `gatewayCode`, as any server
 * may, so a typed error can be checked.
 */
function makeRouter(events: EventEmitter, log: StockEvent[]) {
  const t = initTRPC.create({
    transformer: superjson,
    errorFormatter({ shape, error }) {
      const cause = error.cause instanceof GatewayError ? error.cause : undefined;
      const data: GatewayErrorData = {
        code: shape.data.code,
        httpStatus: shape.data.httpStatus,
        gatewayCode: cause?.code ?? gatewayCodeFromTrpc(error.code),
        ...(cause?.details ? { details: cause.details } : {}),
      };
      return { code: shape.code, message: shape.message, data };
    },
  });
  return t.router({
    health: t.procedure.query(() => ({ ok: true as const, at: new Date(0) })),
    echo: t.procedure.input((value: unknown) => value).query(({ input }) => input),
    add: t.procedure
      .input((value: unknown) => value as { a: number; b: number })
      .mutation(({ input }) => input.a + input.b),
    notConnected: t.procedure.query(() => {
      throw new TRPCError({
        code: 'PRECONDITION_FAILED',
        message: 'node "pi" is offline',
        cause: new GatewayError('NOT_CONNECTED', 'node "pi" is offline', {
          details: { nodeId: 'pi' },
        }),
      });
    }),
    events: t.procedure
      .input((value: unknown) => value as { lastEventId?: string | null } | undefined)
      .subscription(async function* ({ input, signal }) {
        // Listen before replaying so nothing emitted in between is lost.
        const live = on(events, 'event', { signal });
        let last = input?.lastEventId ? Number(input.lastEventId) : 0;
        for (const event of log) {
          if (event.seq <= last) continue;
          last = event.seq;
          yield tracked(String(event.seq), event);
        }
        for await (const [event] of live as AsyncIterable<[StockEvent]>) {
          if (event.seq <= last) continue;
          last = event.seq;
          yield tracked(String(event.seq), event);
        }
      }),
  });
}

export type StockRouter = ReturnType<typeof makeRouter>;

export type StockServer = {
  url: string;
  /** WebSocket connections accepted so far. */
  readonly connections: number;
  emit(text: string): StockEvent;
  /** tRPC's "reconnect" notification to every client, as a stock server sends before a restart. */
  broadcastReconnect(): void;
  stop(): Promise<void>;
};

export async function startStockServer(): Promise<StockServer> {
  const events = new EventEmitter();
  const log: StockEvent[] = [];
  const http = createServer();
  const wss = new WebSocketServer({ server: http });
  let connections = 0;
  wss.on('connection', () => connections++);
  const handler = applyWSSHandler({ wss, router: makeRouter(events, log) });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const { port } = http.address() as AddressInfo;
  return {
    url: `ws://127.0.0.1:${port}`,
    get connections() {
      return connections;
    },
    broadcastReconnect: () => handler.broadcastReconnectNotification(),
    emit(text) {
      const event = { seq: log.length + 1, text };
      log.push(event);
      events.emit('event', event);
      return event;
    },
    async stop() {
      for (const socket of wss.clients) socket.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}
