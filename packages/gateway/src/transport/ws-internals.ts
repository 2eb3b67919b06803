import type { WebSocket } from 'ws';

type WithReceiver = { _receiver?: { _maxPayload?: number } };

/**
 * `ws` fixes `maxPayload` per server, but a gateway wants a small limit until
 * the client has authenticated (so an anonymous peer can't make us buffer
 * megabytes) and a larger one after. The receiver reads `_maxPayload` on every
 * frame header, so changing it per socket takes effect at the next frame.
 * Private API: `transport.test.ts` proves both limits on the real socket so a
 * `ws` upgrade that renames it fails loudly.
 */
export function setMaxPayload(socket: WebSocket, bytes: number): void {
  const receiver = (socket as unknown as WithReceiver)._receiver;
  if (receiver && typeof receiver._maxPayload === 'number') receiver._maxPayload = bytes;
}
