import WebSocket from 'ws';
import { rawFrame } from '../raw-frames.js';
import { type Caller, EventCounter, type Subscriber, type System } from './driver.js';

export type RawFrameSizes = { requestBytes: number };

/** Opens a plain `ws` socket (no compression, like every client here). */
export function openSocket(url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    ws.once('open', () => {
      ws.off('error', reject);
      resolve(ws);
    });
    ws.once('error', reject);
  });
}

/**
 * The raw-ws baseline client: request frames of the measured size with an
 * id, answers matched by id after a `JSON.parse`, the least an RPC client
 * over `ws` can do.
 */
class RawCaller implements Caller {
  readonly #ws: WebSocket;
  readonly #requestBytes: number;
  readonly #pending = new Map<number, () => void>();
  #nextId = 1;

  constructor(ws: WebSocket, requestBytes: number) {
    this.#ws = ws;
    this.#requestBytes = requestBytes;
    ws.on('message', (data) => {
      const { id } = JSON.parse((data as Buffer).toString('utf8')) as { id: number };
      const resolve = this.#pending.get(id);
      if (resolve) {
        this.#pending.delete(id);
        resolve();
      }
    });
  }

  call(): Promise<void> {
    const id = this.#nextId++;
    return new Promise<void>((resolve) => {
      this.#pending.set(id, resolve);
      this.#ws.send(rawFrame(id, this.#requestBytes));
    });
  }

  async close(): Promise<void> {
    await closeSocket(this.#ws);
  }
}

export function closeSocket(ws: WebSocket): Promise<void> {
  if (ws.readyState === WebSocket.CLOSED) return Promise.resolve();
  return new Promise((resolve) => {
    ws.once('close', () => resolve());
    ws.close();
    setTimeout(() => ws.terminate(), 1_000).unref();
  });
}

export function rawSystem(url: string, sizes: () => RawFrameSizes): System {
  return {
    name: 'raw ws',
    async connect() {
      return new RawCaller(await openSocket(url), sizes().requestBytes);
    },
    async subscribe(): Promise<Subscriber> {
      const ws = await openSocket(url);
      const counter = new EventCounter();
      let started = false;
      await new Promise<void>((resolve) => {
        ws.on('message', (data) => {
          JSON.parse((data as Buffer).toString('utf8'));
          if (started) counter.tick();
          else {
            started = true;
            resolve();
          }
        });
        ws.send(JSON.stringify({ id: 0, subscribe: true }));
      });
      return {
        get received() {
          return counter.received;
        },
        waitFor: (count, timeoutMs) => counter.waitFor(count, timeoutMs),
        close: () => closeSocket(ws),
      };
    },
  };
}
