import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';

/**
 * A WebSocket client written on a bare TCP socket, for the frames and
 * handshakes no well-behaved library will send: a header announcing 100 MiB
 * with no body, thousands of one-byte fragments, a handshake with a hostile
 * Origin or Host. It speaks just enough RFC 6455 to read what the server
 * answers (an HTTP refusal, data frames, the close code).
 */
export type RawWebSocket = {
  socket: Socket;
  /** Status line of the server's answer to the upgrade (101 when accepted). */
  status: number;
  /** The refusal body when status is not 101. */
  body: string;
  headers: Record<string, string>;
  /** Writes one masked frame. */
  sendFrame(frame: FrameSpec): void;
  /** Writes a complete text message in one frame. */
  sendText(text: string): void;
  /** Next text message from the server (bounded). */
  nextText(timeoutMs?: number): Promise<string>;
  /** Resolves with the close code the server sent (or 1006 when the TCP socket just ended). */
  closed: Promise<{ code: number; reason: string }>;
  /** Resolves when the TCP connection is gone, whatever the reason. */
  ended: Promise<void>;
  destroy(): void;
};

export type FrameSpec = {
  opcode: number;
  payload?: Buffer | string;
  fin?: boolean;
  /** Announce this length in the header but send no payload bytes (the payload must be empty). */
  announceLength?: number;
};

export const Opcode = {
  continuation: 0x0,
  text: 0x1,
  binary: 0x2,
  close: 0x8,
  ping: 0x9,
  pong: 0xa,
} as const;

export type RawHandshake = {
  port: number;
  host?: string;
  /** Request path and query, e.g. `/?connectionParams=1`. */
  path?: string;
  /** Extra or overriding request headers; a `null` value removes a default header. */
  headers?: Record<string, string | null>;
  /** Source address to bind, to look like another peer on loopback (127.0.0.2 ...). */
  localAddress?: string;
  /** Answer protocol pings (default); false plays a peer whose process stopped. */
  answerPings?: boolean;
};

/** Builds a masked client frame (or just its header, with `announceLength`). */
export function encodeFrame(spec: FrameSpec): Buffer {
  const payload =
    typeof spec.payload === 'string'
      ? Buffer.from(spec.payload)
      : (spec.payload ?? Buffer.alloc(0));
  const length = spec.announceLength ?? payload.length;
  const head: number[] = [((spec.fin ?? true) ? 0x80 : 0) | spec.opcode];
  if (length < 126) {
    head.push(0x80 | length);
  } else if (length < 0x10000) {
    head.push(0x80 | 126, length >> 8, length & 0xff);
  } else {
    head.push(0x80 | 127);
    const big = Buffer.alloc(8);
    big.writeBigUInt64BE(BigInt(length));
    head.push(...big);
  }
  const mask = randomBytes(4);
  const masked = Buffer.alloc(payload.length);
  for (let i = 0; i < payload.length; i++)
    masked[i] = (payload[i] as number) ^ (mask[i & 3] as number);
  return Buffer.concat([Buffer.from(head), mask, masked]);
}

/** Opens a TCP connection and performs (or attempts) the WebSocket upgrade. */
export function openRawWebSocket(options: RawHandshake): Promise<RawWebSocket> {
  const host = options.host ?? '127.0.0.1';
  const socket = connect({
    host,
    port: options.port,
    ...(options.localAddress ? { localAddress: options.localAddress } : {}),
  });
  socket.setNoDelay(true);
  const defaults: Record<string, string> = {
    Host: `${host}:${options.port}`,
    Upgrade: 'websocket',
    Connection: 'Upgrade',
    'Sec-WebSocket-Key': randomBytes(16).toString('base64'),
    'Sec-WebSocket-Version': '13',
  };
  const headers: Record<string, string> = { ...defaults };
  for (const [name, value] of Object.entries(options.headers ?? {})) {
    const existing = Object.keys(headers).find((k) => k.toLowerCase() === name.toLowerCase());
    if (existing) delete headers[existing];
    if (value !== null) headers[name] = value;
  }
  const request = `GET ${options.path ?? '/'} HTTP/1.1\r\n${Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('')}\r\n`;

  const texts: string[] = [];
  const textWaiters: ((text: string) => void)[] = [];
  let resolveClosed!: (value: { code: number; reason: string }) => void;
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    resolveClosed = resolve;
  });
  const ended = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.on('error', () => {
    // peers that reset us are part of what these tests provoke; `ended` reports it
  });
  void ended.then(() => resolveClosed({ code: 1006, reason: '' }));

  return new Promise((resolve, reject) => {
    let buffered = Buffer.alloc(0);
    let upgraded = false;
    let result: RawWebSocket | undefined;
    const autoPong = options.answerPings ?? true;

    const onFrames = () => {
      for (;;) {
        const frame = decodeServerFrame(buffered);
        if (!frame) return;
        buffered = buffered.subarray(frame.size);
        if (frame.opcode === Opcode.text) {
          const text = frame.payload.toString('utf8');
          const waiter = textWaiters.shift();
          if (waiter) waiter(text);
          else texts.push(text);
        } else if (frame.opcode === Opcode.close) {
          const code = frame.payload.length >= 2 ? frame.payload.readUInt16BE(0) : 1005;
          resolveClosed({ code, reason: frame.payload.subarray(2).toString('utf8') });
        } else if (frame.opcode === Opcode.ping) {
          if (autoPong) socket.write(encodeFrame({ opcode: Opcode.pong, payload: frame.payload }));
        }
      }
    };

    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      if (!upgraded) {
        const end = buffered.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buffered.subarray(0, end).toString('latin1').split('\r\n');
        const status = Number((head[0] ?? '').split(' ')[1]);
        const responseHeaders: Record<string, string> = {};
        for (const line of head.slice(1)) {
          const colon = line.indexOf(':');
          if (colon > 0)
            responseHeaders[line.slice(0, colon).trim().toLowerCase()] = line
              .slice(colon + 1)
              .trim();
        }
        buffered = buffered.subarray(end + 4);
        upgraded = true;
        result = {
          socket,
          status,
          body: '',
          headers: responseHeaders,
          sendFrame: (spec) => socket.write(encodeFrame(spec)),
          sendText: (text) => socket.write(encodeFrame({ opcode: Opcode.text, payload: text })),
          nextText: (timeoutMs = 5_000) =>
            texts.length > 0
              ? Promise.resolve(texts.shift() as string)
              : new Promise<string>((res, rej) => {
                  const timer = setTimeout(
                    () => rej(new Error('no text frame from the server in time')),
                    timeoutMs,
                  );
                  textWaiters.push((text) => {
                    clearTimeout(timer);
                    res(text);
                  });
                }),
          closed,
          ended,
          destroy: () => socket.destroy(),
        };
        if (status !== 101) {
          // A refusal: the rest is the plain-text body; wait for the server to end it.
          socket.once('end', () => {
            if (result) result.body = buffered.toString('utf8');
            resolve(result as RawWebSocket);
          });
          return;
        }
        resolve(result);
      }
      if (result && result.status === 101) onFrames();
    });
    socket.once('connect', () => socket.write(request));
    socket.once('close', () => {
      if (!upgraded) reject(new Error('connection closed before the server answered the upgrade'));
    });
  });
}

type ServerFrame = { opcode: number; payload: Buffer; size: number };

/** Server frames are unmasked; returns undefined until a whole frame is buffered. */
function decodeServerFrame(buf: Buffer): ServerFrame | undefined {
  if (buf.length < 2) return undefined;
  const opcode = (buf[0] as number) & 0x0f;
  let length = (buf[1] as number) & 0x7f;
  let offset = 2;
  if (length === 126) {
    if (buf.length < 4) return undefined;
    length = buf.readUInt16BE(2);
    offset = 4;
  } else if (length === 127) {
    if (buf.length < 10) return undefined;
    length = Number(buf.readBigUInt64BE(2));
    offset = 10;
  }
  if (buf.length < offset + length) return undefined;
  return { opcode, payload: buf.subarray(offset, offset + length), size: offset + length };
}

/** Sends tRPC connectionParams on an accepted raw socket. */
export function sendConnectionParams(ws: RawWebSocket, data: Record<string, string>): void {
  ws.sendText(JSON.stringify({ method: 'connectionParams', data }));
}
