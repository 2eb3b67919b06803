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

/** The parts of the TCP (or TLS) socket under a `ws` WebSocket that the adapter writes frames to. */
export type UnderlyingSocket = { write(chunk: Buffer): boolean; readonly writableLength: number };

/**
 * The stream `ws` writes frames to (private `_socket`), so the adapter can
 * write one tick's frames as one buffer. Undefined when `ws` changes shape;
 * callers then send frame by frame through `ws`.
 */
export function underlyingSocket(socket: WebSocket): UnderlyingSocket | undefined {
  const raw = (socket as unknown as { _socket?: Partial<UnderlyingSocket> })._socket;
  return raw && typeof raw.write === 'function' && typeof raw.writableLength === 'number'
    ? (raw as UnderlyingSocket)
    : undefined;
}

/**
 * Unmasked, unfragmented text frames (RFC 6455 §5.2, server to client: FIN,
 * opcode 1, no mask) for `texts`, back to back in one buffer: what `ws`
 * writes for `send(text)` on a socket without compression, without its two
 * buffers and two stream writes per frame.
 */
export function textFrames(texts: readonly string[]): Buffer {
  const lengths = new Array<number>(texts.length);
  let total = 0;
  for (let i = 0; i < texts.length; i++) {
    const length = Buffer.byteLength(texts[i]!, 'utf8');
    lengths[i] = length;
    total += length + (length < 126 ? 2 : length < 65_536 ? 4 : 10);
  }
  const out = Buffer.allocUnsafe(total);
  let at = 0;
  for (let i = 0; i < texts.length; i++) {
    const length = lengths[i]!;
    out[at++] = 0x81;
    if (length < 126) {
      out[at++] = length;
    } else if (length < 65_536) {
      out[at++] = 126;
      out.writeUInt16BE(length, at);
      at += 2;
    } else {
      out[at++] = 127;
      out.writeUInt32BE(Math.floor(length / 2 ** 32), at);
      out.writeUInt32BE(length >>> 0, at + 4);
      at += 8;
    }
    at += out.write(texts[i]!, at, length, 'utf8');
  }
  return out;
}
