import type { WebSocket } from 'ws';

type WithReceiver = { _receiver?: { _maxPayload?: number } };

/**
 * `ws` fixes `maxPayload` per server, but a gateway wants a small limit until
 * the client has authenticated (so an anonymous peer can't make us buffer
 * megabytes) and a larger one after. The receiver reads `_maxPayload` on every
 * frame header, so changing it per socket takes effect at the next frame.
 * Private API: packages/tests/test/hardening/frames.test.ts proves both limits
 * on the real socket, so a `ws` upgrade that renames it fails loudly.
 */
export function setMaxPayload(socket: WebSocket, bytes: number): void {
  const receiver = (socket as unknown as WithReceiver)._receiver;
  if (receiver && typeof receiver._maxPayload === 'number') receiver._maxPayload = bytes;
}

/** The parts of the TCP (or TLS) socket under a `ws` WebSocket that write coalescing needs. */
export type CorkableSocket = { cork(): void; uncork(): void; readonly writableLength: number };

/**
 * The stream `ws` writes frames to (private `_socket`), so the adapter can
 * cork it while one tick's responses are produced and flush them with one
 * syscall. Undefined when `ws` changes shape; callers then write frame by
 * frame as before.
 */
export function underlyingSocket(socket: WebSocket): CorkableSocket | undefined {
  const raw = (socket as unknown as { _socket?: Partial<CorkableSocket> })._socket;
  return raw && typeof raw.cork === 'function' && typeof raw.uncork === 'function'
    ? (raw as CorkableSocket)
    : undefined;
}
