import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { GatewayError } from '@loopgate/protocol';
import { expect } from 'vitest';
import { type WebSocket, WebSocketServer } from 'ws';
import type { ConnectionState } from '../src/connection-state.js';

type HasConnection = {
  connection: { get(): ConnectionState; subscribe(l: (s: ConnectionState) => void): () => void };
};

/** Resolves with the first state matching `predicate` (the current one included), bounded. */
export function waitForState(
  client: HasConnection,
  predicate: (state: ConnectionState) => boolean,
  timeoutMs = 5_000,
): Promise<ConnectionState> {
  const current = client.connection.get();
  if (predicate(current)) return Promise.resolve(current);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      stop();
      reject(
        new Error(
          `timed out waiting for a connection state; last: ${JSON.stringify(client.connection.get())}`,
        ),
      );
    }, timeoutMs);
    const stop = client.connection.subscribe((state) => {
      if (!predicate(state)) return;
      clearTimeout(timer);
      stop();
      resolve(state);
    });
  });
}

/** Polls `check` until truthy, bounded; for state without an event to wait on. */
export async function waitFor<T>(
  check: () => T,
  what: string,
  timeoutMs = 5_000,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/**
 * A bare WebSocket server for behaviours no tRPC server has (custom close
 * codes, HTTP refusals). `onSocket` gets each socket and its first frame.
 */
export async function startRawServer(handlers: {
  onSocket?: (socket: WebSocket, firstFrame: string) => void;
  /** Answer the upgrade with plain HTTP instead (status line, headers, body). */
  refuse?: (
    request: IncomingMessage,
  ) => { status: number; headers?: Record<string, string>; body: string } | undefined;
}): Promise<{ url: string; connections: number; upgrades: number; close(): Promise<void> }> {
  const http: Server = createServer();
  const wss = new WebSocketServer({ noServer: true });
  const state = { connections: 0, upgrades: 0 };
  http.on('upgrade', (request: IncomingMessage, socket: Socket, head: Buffer) => {
    state.upgrades++;
    const refusal = handlers.refuse?.(request);
    if (refusal) {
      const extra = Object.entries(refusal.headers ?? {})
        .map(([k, v]) => `${k}: ${v}\r\n`)
        .join('');
      socket.end(
        `HTTP/1.1 ${refusal.status} Refused\r\nconnection: close\r\ncontent-type: text/plain\r\ncontent-length: ${Buffer.byteLength(refusal.body)}\r\n${extra}\r\n${refusal.body}`,
      );
      return;
    }
    wss.handleUpgrade(request, socket, head, (ws) => {
      state.connections++;
      ws.once('message', (data) => handlers.onSocket?.(ws, data.toString()));
    });
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const { port } = http.address() as AddressInfo;
  return {
    url: `ws://127.0.0.1:${port}`,
    get connections() {
      return state.connections;
    },
    get upgrades() {
      return state.upgrades;
    },
    async close() {
      for (const ws of wss.clients) ws.terminate();
      wss.close();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}

/** The typed error a call rejected with; fails the test if it resolved or threw anything else. */
export async function rejectionOf(promise: Promise<unknown>): Promise<GatewayError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(GatewayError);
    return error as GatewayError;
  }
  throw new Error('expected the call to fail with a GatewayError');
}
