import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type StartedServer = { server: Server; port: number; close(): Promise<void> };

/** A plain HTTP server on 127.0.0.1 with a free port, closed hard (long polls included). */
export async function listenLocal(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<StartedServer> {
  const server = createServer(handler);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    server,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

export async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export function sendJson(
  res: ServerResponse,
  status: number,
  value: unknown,
  headers: Record<string, string> = {},
): void {
  const body = JSON.stringify(value);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    ...headers,
  });
  res.end(body);
}

/** A promise with its resolver outside, for "let the server go on now" in scripted tests. */
export type Gate = { promise: Promise<void>; open(): void };
export function createGate(): Gate {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

/** Resolves when `predicate` holds for something `subscribe` reports, or rejects after `timeoutMs`. */
export function waitForItem<T>(
  items: readonly T[],
  subscribe: (listener: () => void) => () => void,
  predicate: (item: T) => boolean,
  what: string,
  timeoutMs = 10_000,
): Promise<T> {
  const found = items.find(predicate);
  if (found !== undefined) return Promise.resolve(found);
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      unsubscribe();
      reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
    }, timeoutMs);
    const unsubscribe = subscribe(() => {
      const hit = items.find(predicate);
      if (hit === undefined) return;
      clearTimeout(timer);
      unsubscribe();
      resolve(hit);
    });
  });
}
