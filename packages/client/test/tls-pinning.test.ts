import { mkdtemp, rm } from 'node:fs/promises';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import {
  type AddressInfo,
  createServer as createNetServer,
  type Server as NetServer,
} from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSecureContext, createServer as createTlsServer, TLSSocket } from 'node:tls';
import { GatewayError } from '@loopgate/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket, { type ClientOptions, WebSocketServer } from 'ws';
// The gateway's own certificate generator, so the tests pin exactly what a gateway serves.
import { ensureGatewayCertificate, type GatewayCertificate } from '../../gateway/src/tls/index.js';
import { pinnedWebSocketOptions, probeCertificate, webSocketOptionsFor } from '../src/tls/index.js';

let dir: string;
let genuine: GatewayCertificate;
let impostorCert: GatewayCertificate;
let gateway: HttpsServer;
let gatewayUrl: string;
const resumedSessions: boolean[] = [];
let impostor: NetServer;
let impostorUrl: string;
const impostorSockets: { socket: TLSSocket; bytes: number; closed: Promise<void> }[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'loopgate-pin-'));
  genuine = await ensureGatewayCertificate({
    stateDir: join(dir, 'genuine'),
    hosts: ['127.0.0.1'],
  });
  impostorCert = await ensureGatewayCertificate({
    stateDir: join(dir, 'impostor'),
    hosts: ['127.0.0.1'],
  });

  gateway = createHttpsServer({ cert: genuine.cert, key: genuine.key });
  gateway.on('secureConnection', (socket: TLSSocket) =>
    resumedSessions.push(socket.isSessionReused()),
  );
  const wss = new WebSocketServer({ server: gateway });
  wss.on('connection', (ws) => ws.on('message', (data) => ws.send(`echo:${data.toString()}`)));
  await new Promise<void>((resolve) => gateway.listen(0, '127.0.0.1', resolve));
  gatewayUrl = `wss://127.0.0.1:${(gateway.address() as AddressInfo).port}`;

  // The impostor answers TLS with its own certificate and counts every
  // decrypted byte the client sends: the HTTP upgrade would be the first. The
  // TLS layer is attached to each raw socket at once (not on 'secureConnection',
  // which never fires when the client hangs up right after its Finished).
  const secureContext = createSecureContext({ cert: impostorCert.cert, key: impostorCert.key });
  impostor = createNetServer((raw) => {
    const socket = new TLSSocket(raw, { isServer: true, secureContext });
    const entry = {
      socket,
      bytes: 0,
      closed: new Promise<void>((resolve) => raw.on('close', () => resolve())),
    };
    socket.on('data', (chunk: Buffer) => {
      entry.bytes += chunk.length;
    });
    socket.on('error', () => {});
    impostorSockets.push(entry);
  });
  await new Promise<void>((resolve) => impostor.listen(0, '127.0.0.1', resolve));
  impostorUrl = `wss://127.0.0.1:${(impostor.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const { socket } of impostorSockets) socket.destroy();
  gateway.closeAllConnections();
  await new Promise((resolve) => gateway.close(resolve));
  await new Promise((resolve) => impostor.close(resolve));
  await rm(dir, { recursive: true, force: true });
});

function open(url: string, options: ClientOptions): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { ...options, handshakeTimeout: 5_000 });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

async function echo(ws: WebSocket): Promise<string> {
  const reply = new Promise<string>((resolve) =>
    ws.once('message', (data) => resolve(data.toString())),
  );
  ws.send('ping');
  const text = await reply;
  ws.close();
  return text;
}

describe('TLS certificate pinning', () => {
  it('connects when the presented certificate matches the pin', async () => {
    const ws = await open(
      gatewayUrl,
      webSocketOptionsFor(gatewayUrl, { tlsFingerprint: genuine.fingerprint }),
    );
    expect(await echo(ws)).toBe('echo:ping');
  });

  it('accepts the lowercase-hex and sha256/base64 spellings and a rotation list', async () => {
    const hex = genuine.fingerprint.replaceAll(':', '').toLowerCase();
    const b64 = `sha256/${Buffer.from(hex, 'hex').toString('base64')}`;
    for (const pin of [hex, b64, [impostorCert.fingerprint, genuine.fingerprint]]) {
      const ws = await open(gatewayUrl, webSocketOptionsFor(gatewayUrl, { tlsFingerprint: pin }));
      expect(await echo(ws)).toBe('echo:ping');
    }
  });

  it('refuses a wrong certificate with TLS_PIN_MISMATCH before a single HTTP byte reaches the impostor', async () => {
    const before = impostorSockets.length;
    const error = await open(impostorUrl, pinnedWebSocketOptions([genuine.fingerprint])).then(
      () => new Error('connected to the impostor'),
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(GatewayError);
    expect((error as GatewayError).code).toBe('TLS_PIN_MISMATCH');
    expect((error as GatewayError).details).toEqual({
      expected: [genuine.fingerprint],
      presented: impostorCert.fingerprint,
    });
    expect((error as GatewayError).message).toContain(impostorCert.fingerprint);

    // The client did reach the impostor and saw its certificate (details.presented above)...
    expect(impostorSockets.length).toBe(before + 1);
    const victim = impostorSockets[before];
    await victim?.closed;
    // ...and the socket closed having received nothing.
    expect(victim?.bytes).toBe(0);
  });

  it('the byte counter does see an upgrade request when nothing is pinned (control)', async () => {
    const before = impostorSockets.length;
    const ws = new WebSocket(impostorUrl, { rejectUnauthorized: false });
    ws.on('error', () => {});
    await expect
      .poll(() => impostorSockets[before]?.bytes ?? 0, { timeout: 5_000 })
      .toBeGreaterThan(0);
    ws.terminate();
  });

  it('without a pin, wss:// verifies against the system CAs and refuses a self-signed gateway', async () => {
    const error = (await open(gatewayUrl, webSocketOptionsFor(gatewayUrl)).then(
      () => new Error('connected without verification'),
      (e: unknown) => e,
    )) as NodeJS.ErrnoException;
    expect(error.code).toMatch(/SELF_SIGNED|UNABLE_TO_VERIFY/);
  });

  it('never resumes a TLS session (each connection presents and checks the certificate)', async () => {
    resumedSessions.length = 0;
    for (let i = 0; i < 3; i++) {
      const ws = await open(gatewayUrl, pinnedWebSocketOptions([genuine.fingerprint]));
      await echo(ws);
    }
    expect(resumedSessions).toEqual([false, false, false]);
  });

  it('a refused TCP connection is reported as an error, not a hang', async () => {
    const closed = createTlsServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const error = (await open(
      `wss://127.0.0.1:${port}`,
      pinnedWebSocketOptions([genuine.fingerprint]),
    ).catch((e: unknown) => e)) as NodeJS.ErrnoException;
    expect(error.code).toBe('ECONNREFUSED');
  });
});

describe('probeCertificate', () => {
  it('reports the presented fingerprint without sending any HTTP byte', async () => {
    const before = impostorSockets.length;
    const probe = await probeCertificate(impostorUrl);
    expect(probe).toMatchObject({
      fingerprint: impostorCert.fingerprint,
      trustedBySystem: false,
      host: '127.0.0.1',
    });
    expect(probe.untrustedReason).toMatch(/SELF_SIGNED/);
    expect(probe.subjectAltName).toContain('IP Address:127.0.0.1');
    expect(impostorSockets.length).toBe(before + 1);
    await impostorSockets[before]?.closed;
    expect(impostorSockets[before]?.bytes).toBe(0);
  });

  it('refuses ws:// and reports an unreachable server', async () => {
    await expect(probeCertificate('ws://127.0.0.1:1')).rejects.toMatchObject({
      code: 'BAD_REQUEST',
    });
    await expect(probeCertificate('wss://127.0.0.1:1')).rejects.toMatchObject({
      code: 'UNAVAILABLE',
    });
  });
});
