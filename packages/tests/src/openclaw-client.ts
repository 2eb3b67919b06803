import { createHash, type KeyObject, sign } from 'node:crypto';
import { newEd25519Key } from '@loopgate/protocol';
import WebSocket from 'ws';

/**
 * A minimal OpenClaw-protocol client for tests, written from its protocol
 * docs (frames, the connect challenge, the v3 device signature), so a test
 * can send exactly the bytes it means to, right or wrong.
 */

export type OpenClawFrame = {
  type: string;
  id?: string;
  ok?: boolean;
  payload?: Record<string, unknown>;
  error?: { code: string; message: string; details?: Record<string, unknown> };
  event?: string;
  seq?: number;
};

export type OpenClawDevice = { id: string; publicKey: string; privateKey: KeyObject };

export function newOpenClawDevice(): OpenClawDevice {
  const { publicKey, privateKey } = newEd25519Key();
  const raw = Buffer.from(publicKey, 'base64url');
  return {
    id: createHash('sha256').update(raw).digest('hex'),
    publicKey: raw.toString('base64url'),
    privateKey,
  };
}

export type ConnectOptions = {
  role: 'node' | 'operator';
  scopes?: string[];
  token?: string;
  device?: OpenClawDevice;
  displayName?: string;
  /** `client.platform` (default `linux`), as its node host reports it. */
  platform?: string;
  commands?: string[];
  /** Sign something else than the documented payload (a wrong signature). */
  tamper?: boolean;
};

/** The `connect` params for `challenge`, signed (v3) when a device is given. */
export function connectParams(
  challenge: { nonce: string; ts: number },
  options: ConnectOptions,
): Record<string, unknown> {
  const client = {
    id: options.role === 'node' ? 'node-host' : 'cli',
    displayName: options.displayName,
    version: 'test',
    platform: options.platform ?? 'linux',
    deviceFamily: 'Linux',
    mode: options.role === 'node' ? 'node' : 'cli',
  };
  const scopes = options.scopes ?? [];
  const params: Record<string, unknown> = {
    minProtocol: 4,
    maxProtocol: 4,
    client,
    role: options.role,
    scopes,
    ...(options.commands ? { commands: options.commands } : {}),
    ...(options.token ? { auth: { token: options.token } } : {}),
  };
  const device = options.device;
  if (device) {
    const payload = [
      'v3',
      device.id,
      client.id,
      client.mode,
      options.role,
      scopes.join(','),
      String(challenge.ts),
      options.token ?? '',
      challenge.nonce,
      // v3 binds the platform and device family trimmed, A-Z folded to a-z.
      client.platform.trim().replace(/[A-Z]/g, (c) => c.toLowerCase()),
      options.tamper ? 'tampered' : 'linux',
    ].join('|');
    params.device = {
      id: device.id,
      publicKey: device.publicKey,
      signature: sign(null, Buffer.from(payload), device.privateKey).toString('base64url'),
      signedAt: challenge.ts,
      nonce: challenge.nonce,
    };
  }
  return params;
}

/** One socket on the endpoint: frames in order, requests answered by id, the close. */
export class OpenClawSocket {
  readonly ws: WebSocket;
  readonly frames: OpenClawFrame[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  #waiters: Array<() => void> = [];
  #nextId = 0;

  constructor(url: string, options: { localAddress?: string } = {}) {
    this.ws = new WebSocket(url, options);
    this.ws.on('message', (data) => {
      this.frames.push(JSON.parse(data.toString()) as OpenClawFrame);
      for (const wake of this.#waiters.splice(0)) wake();
    });
    this.ws.on('error', () => {});
    this.closed = new Promise((resolve) =>
      this.ws.once('close', (code, reason) => {
        for (const wake of this.#waiters.splice(0)) wake();
        resolve({ code, reason: reason.toString() });
      }),
    );
  }

  /** The first frame matching `match`, waiting (bounded) for it. */
  async next(match: (f: OpenClawFrame) => boolean, timeoutMs = 10_000): Promise<OpenClawFrame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.frames.find(match);
      if (found) return found;
      if (this.ws.readyState === WebSocket.CLOSED)
        throw new Error(`socket closed before the frame came; got ${JSON.stringify(this.frames)}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no such frame in time; got ${JSON.stringify(this.frames)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  async challenge(): Promise<{ nonce: string; ts: number }> {
    const frame = await this.next((f) => f.event === 'connect.challenge');
    return frame.payload as { nonce: string; ts: number };
  }

  sendRaw(data: string | Buffer): void {
    this.ws.send(data);
  }

  /** Sends a request and waits for its `res`. */
  async request(method: string, params?: unknown): Promise<OpenClawFrame> {
    const id = `t${++this.#nextId}`;
    await this.#open();
    this.ws.send(JSON.stringify({ type: 'req', id, method, params }));
    return this.next((f) => f.type === 'res' && f.id === id);
  }

  /** Answers the challenge with a `connect` made from `options`. */
  async connect(options: ConnectOptions): Promise<OpenClawFrame> {
    return this.request('connect', connectParams(await this.challenge(), options));
  }

  close(): void {
    this.ws.close();
  }

  #open(): Promise<void> {
    if (this.ws.readyState === WebSocket.OPEN) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('close', () => reject(new Error('socket closed before it opened')));
    });
  }
}
