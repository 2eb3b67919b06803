import { createGatewayClient, type GatewayClient, type SocketFactory } from '@loopgate/client';
import WebSocket from 'ws';
import { median } from '../stats.js';
import { type Caller, EventCounter, type Subscriber, type System } from './driver.js';

/**
 * Records the size of every text frame one client sends and receives, so the
 * raw baseline can use frames of exactly the same size. A batch frame
 * (a JSON array) counts as its per-request share.
 */
export class FrameSizeProbe {
  readonly sent: number[] = [];
  readonly received: number[] = [];

  readonly createSocket: SocketFactory = (url, options) => {
    const ws = new WebSocket(url, options);
    const send = ws.send.bind(ws);
    ws.send = ((data: string, ...rest: unknown[]) => {
      this.#record(this.sent, data);
      return (send as (...args: unknown[]) => void)(data, ...rest);
    }) as typeof ws.send;
    ws.on('message', (data) => this.#record(this.received, (data as Buffer).toString('utf8')));
    return ws;
  };

  #record(into: number[], text: string): void {
    if (text === 'PING' || text === 'PONG') return;
    const bytes = Buffer.byteLength(text);
    if (text.startsWith('[')) {
      const count = (JSON.parse(text) as unknown[]).length;
      into.push(Math.round(bytes / count));
    } else {
      into.push(bytes);
    }
  }

  /** Median sizes of the frames recorded after `skip` warm-up frames in each direction. */
  sizes(skipSent = 0, skipReceived = 0): { sentBytes: number; receivedBytes: number } {
    return {
      sentBytes: Math.round(median(this.sent.slice(skipSent))),
      receivedBytes: Math.round(median(this.received.slice(skipReceived))),
    };
  }

  reset(): void {
    this.sent.length = 0;
    this.received.length = 0;
  }
}

export type LoopgateTarget = { url: string; token: string };

export function openLoopgateClient(
  target: LoopgateTarget,
  createSocket?: SocketFactory,
): GatewayClient {
  return createGatewayClient({
    url: target.url,
    token: target.token,
    retry: false,
    clientName: 'loopgate-bench',
    ...(createSocket ? { createSocket } : {}),
  });
}

/** Resolves once `client.events` has started, counting events of the bench's type. */
export async function subscribeEvents(
  client: GatewayClient,
  counter: EventCounter,
  types: string[] = ['channel.'],
): Promise<{ unsubscribe(): void }> {
  let subscription: { unsubscribe(): void } | undefined;
  await new Promise<void>((resolve, reject) => {
    subscription = client.events.subscribe(
      { types },
      {
        onStarted: () => resolve(),
        onData: () => counter.tick(),
        onError: reject,
      },
    );
  });
  return subscription!;
}

export function loopgateSystem(target: LoopgateTarget): System {
  return {
    name: 'Loopgate',
    async connect(): Promise<Caller> {
      const client = openLoopgateClient(target);
      await client.health.query(undefined);
      return { call: () => client.health.query(undefined), close: () => client.close() };
    },
    async subscribe(): Promise<Subscriber> {
      const client = openLoopgateClient(target);
      const counter = new EventCounter();
      const subscription = await subscribeEvents(client, counter);
      return {
        get received() {
          return counter.received;
        },
        waitFor: (count, timeoutMs) => counter.waitFor(count, timeoutMs),
        close: async () => {
          subscription.unsubscribe();
          await client.close();
        },
      };
    },
  };
}
