import { EventEmitter, on } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GatewayError, type GatewayErrorData, gatewayCodeFromTrpc } from '@loopgate/protocol';
import { initTRPC, type TRPCCombinedDataTransformer, TRPCError, tracked } from '@trpc/server';
import { applyWSSHandler } from '@trpc/server/adapters/ws';
import superjson from 'superjson';
import { type WebSocket, WebSocketServer } from 'ws';

export type StockEvent = { seq: number; text: string };

type Ctx = { token: string | undefined };

/**
 * A stock tRPC 11 WebSocket server (`applyWSSHandler`) with a small router,
 * standing in for the gateway while it is being written: same wire protocol,
 * a createContext that refuses a wrong token the stock way (an
 * `{ id: null, error }` frame, then a plain close), and an error formatter
 * that adds `gatewayCode` like the gateway's.
 */
function makeRouter(
  events: EventEmitter,
  log: StockEvent[],
  hooks: { slow: Promise<void> | undefined },
  transformer: TRPCCombinedDataTransformer | typeof superjson = superjson,
) {
  const t = initTRPC.context<Ctx>().create({
    transformer,
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
    /** Answers only once the test releases `hooks.slow`. */
    slow: t.procedure.mutation(async () => {
      await hooks.slow;
      return 'done';
    }),
    notConnected: t.procedure.query(() => {
      throw new TRPCError({
        code: 'PRECONDITION_FAILED',
        message: 'node "pi" is offline',
        cause: new GatewayError('NOT_CONNECTED', 'node "pi" is offline', {
          details: { nodeId: 'pi' },
        }),
      });
    }),
    plainFailure: t.procedure.query(() => {
      throw new TRPCError({ code: 'NOT_FOUND', message: 'no such thing' });
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
  port: number;
  /** Every frame received from clients, connectionParams and PINGs included. */
  frames: string[];
  /** How many WebSocket connections were accepted so far. */
  connections: number;
  /** How many sockets are open now. */
  readonly openSockets: number;
  emit(text: string): StockEvent;
  /** Makes `slow` wait until the returned function is called. */
  holdSlow(): () => void;
  /** Drops every client socket abruptly, as a crash or a network cut would. */
  killClients(): void;
  broadcastReconnect(): void;
  /** Stops listening (clients see refused connections) until `start()`. */
  stop(): Promise<void>;
  start(): Promise<void>;
};

export async function startStockServer(
  options: { token?: string; transformer?: TRPCCombinedDataTransformer; port?: number } = {},
): Promise<StockServer> {
  const events = new EventEmitter();
  events.setMaxListeners(0);
  const log: StockEvent[] = [];
  const hooks: { slow: Promise<void> | undefined } = { slow: undefined };
  const router = makeRouter(events, log, hooks, options.transformer);
  const sockets = new Set<WebSocket>();
  let http: Server | undefined;
  let wss: WebSocketServer | undefined;
  let broadcast: (() => void) | undefined;
  let port = options.port ?? 0;

  const server: StockServer = {
    url: '',
    port: 0,
    frames: [],
    connections: 0,
    get openSockets() {
      return sockets.size;
    },
    emit(text) {
      const event = { seq: log.length + 1, text };
      log.push(event);
      events.emit('event', event);
      return event;
    },
    holdSlow() {
      let release!: () => void;
      hooks.slow = new Promise<void>((resolve) => {
        release = resolve;
      });
      return release;
    },
    killClients() {
      for (const socket of sockets) socket.terminate();
    },
    broadcastReconnect() {
      broadcast?.();
    },
    async stop() {
      for (const socket of sockets) socket.terminate();
      await new Promise<void>((resolve) => wss?.close(() => resolve()));
      await new Promise<void>((resolve) => http?.close(() => resolve()));
    },
    async start() {
      http = createServer();
      wss = new WebSocketServer({ server: http });
      wss.on('connection', (socket) => {
        server.connections++;
        sockets.add(socket);
        socket.on('message', (data) => server.frames.push(data.toString()));
        socket.once('close', () => sockets.delete(socket));
      });
      broadcast = applyWSSHandler({
        wss,
        router,
        createContext({ info }) {
          const token = info.connectionParams?.token;
          if (options.token !== undefined && token !== options.token) {
            throw new TRPCError({ code: 'UNAUTHORIZED', message: 'invalid token' });
          }
          return { token };
        },
      }).broadcastReconnectNotification;
      await new Promise<void>((resolve) => http?.listen(port, '127.0.0.1', resolve));
      port = (http.address() as AddressInfo).port;
      server.port = port;
      server.url = `ws://127.0.0.1:${port}`;
    },
  };
  await server.start();
  return server;
}

/** A port nothing listens on (bound, read, released). */
export async function freePort(): Promise<number> {
  const http = createServer();
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const { port } = http.address() as AddressInfo;
  await new Promise<void>((resolve) => http.close(() => resolve()));
  return port;
}
