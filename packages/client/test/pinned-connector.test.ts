import { mkdtemp, rm } from 'node:fs/promises';
import { type AddressInfo, createServer as createNetServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSecureContext, createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { GatewayError } from '@loopgate/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureGatewayCertificate, type GatewayCertificate } from '../../gateway/src/tls/index.js';
import { createPinnedConnector, pinCheck, pinnedWebSocketOptions } from '../src/tls/index.js';

/**
 * The pinned connector on its own, against real TLS servers on 127.0.0.1:
 * what it hands over (a socket, or the error), the exact mismatch, the
 * handshake timeout, the name it sends (SNI), and its defaults.
 */
let dir: string;
let cert: GatewayCertificate;
let other: GatewayCertificate;
let tls: Server;
let tlsPort: number;
const serverNames: string[] = [];
let silent: Server;
let silentPort: number;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'loopgate-connector-'));
  cert = await ensureGatewayCertificate({ stateDir: join(dir, 'a'), hosts: ['127.0.0.1'] });
  other = await ensureGatewayCertificate({ stateDir: join(dir, 'b'), hosts: ['127.0.0.1'] });
  const context = createSecureContext({ cert: cert.cert, key: cert.key });
  tls = createTlsServer(
    {
      cert: cert.cert,
      key: cert.key,
      // Called with the name a client sends (SNI); never when it sends none.
      SNICallback: (name, done) => {
        serverNames.push(name);
        done(null, context);
      },
    },
    (socket: TLSSocket) => socket.end(),
  );
  await new Promise<void>((resolve) => tls.listen(0, '127.0.0.1', resolve));
  tlsPort = (tls.address() as AddressInfo).port;
  // Accepts TCP and never answers the TLS hello.
  silent = createNetServer(() => {});
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  silentPort = (silent.address() as AddressInfo).port;
});
afterAll(async () => {
  await new Promise((resolve) => tls.close(resolve));
  silent.close();
  await rm(dir, { recursive: true, force: true });
});

function connectWith(
  pins: string[],
  options: Parameters<ReturnType<typeof createPinnedConnector>>[0],
  handshakeTimeoutMs?: number,
): Promise<{ error: Error | null; remotePort?: number }> {
  const connector = createPinnedConnector(pins, handshakeTimeoutMs ? { handshakeTimeoutMs } : {});
  return new Promise((resolve) => {
    connector(options, (error, socket) => {
      const remotePort = socket?.remotePort;
      socket?.destroy();
      resolve({ error, ...(socket ? { remotePort } : {}) });
    });
  });
}

describe('createPinnedConnector', () => {
  it('hands over the socket when the certificate matches, by host or by hostname, brackets or not', async () => {
    for (const options of [
      { host: '127.0.0.1', port: tlsPort },
      { hostname: '127.0.0.1', port: String(tlsPort) },
      { host: '[127.0.0.1]', port: tlsPort },
    ]) {
      const { error, remotePort } = await connectWith([cert.fingerprint], options);
      expect(error, JSON.stringify(options)).toBeNull();
      expect(remotePort).toBe(tlsPort);
    }
  });

  it('dials the address inside brackets, not localhost', async () => {
    // 127.0.0.2 is loopback on Linux but not what "localhost" resolves to.
    const second = createTlsServer({ cert: cert.cert, key: cert.key }, (socket) => socket.end());
    await new Promise<void>((resolve) => second.listen(0, '127.0.0.2', resolve));
    try {
      const port = (second.address() as AddressInfo).port;
      const { error, remotePort } = await connectWith([cert.fingerprint], {
        host: '[127.0.0.2]',
        port,
      });
      expect(error).toBeNull();
      expect(remotePort).toBe(port);
    } finally {
      await new Promise((resolve) => second.close(resolve));
    }
  });

  it('fails with the exact mismatch, naming both fingerprints, and destroys the socket', async () => {
    const { error } = await connectWith([other.fingerprint], { host: '127.0.0.1', port: tlsPort });
    expect(error).toBeInstanceOf(GatewayError);
    const mismatch = error as GatewayError;
    expect(mismatch.code).toBe('TLS_PIN_MISMATCH');
    expect(mismatch.message).toBe(
      `TLS certificate fingerprint mismatch: expected ${other.fingerprint}, the server presented ${cert.fingerprint}`,
    );
    expect(mismatch.details).toEqual({
      expected: [other.fingerprint],
      presented: cert.fingerprint,
    });
    const two = await connectWith([other.fingerprint, `${'AB:'.repeat(31)}AB`], {
      host: '127.0.0.1',
      port: tlsPort,
    });
    expect((two.error as GatewayError).message).toContain(
      `expected ${other.fingerprint} or ${'AB:'.repeat(31)}AB,`,
    );
  });

  it('gives up on a handshake that never finishes, after its timeout', async () => {
    const started = Date.now();
    const { error } = await connectWith(
      [cert.fingerprint],
      { host: '127.0.0.1', port: silentPort },
      150,
    );
    expect(error).toBeInstanceOf(GatewayError);
    expect((error as GatewayError).code).toBe('TIMEOUT');
    expect(error?.message).toBe('TLS handshake with 127.0.0.1 did not finish within 150 ms');
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('passes a connection failure on, and dials 443 and localhost when told nothing', async () => {
    const refused = await connectWith([cert.fingerprint], { host: '127.0.0.1', port: 1 });
    expect(refused.error?.message).toMatch(/ECONNREFUSED 127\.0\.0\.1:1$/);
    const defaults = await connectWith([cert.fingerprint], {}, 2_000);
    expect(defaults.error?.message).toMatch(/(ECONNREFUSED|EADDRNOTAVAIL) (127\.0\.0\.1|::1):443$/);
  });

  it('sends the host name as SNI, no SNI for an address, and an explicit servername as given', async () => {
    serverNames.length = 0;
    expect(
      (await connectWith([cert.fingerprint], { host: 'localhost', port: tlsPort })).error,
    ).toBeNull();
    expect(serverNames).toEqual(['localhost']);
    expect(
      (await connectWith([cert.fingerprint], { host: '127.0.0.1', port: tlsPort })).error,
    ).toBeNull();
    expect(serverNames).toEqual(['localhost']);
    await connectWith([cert.fingerprint], {
      host: '127.0.0.1',
      port: tlsPort,
      servername: 'gw.example',
    });
    expect(serverNames).toEqual(['localhost', 'gw.example']);
  });

  it('is what pinnedWebSocketOptions gives ws as createConnection', () => {
    expect(typeof pinnedWebSocketOptions([cert.fingerprint]).createConnection).toBe('function');
  });
});

describe('pinCheck', () => {
  it('fails closed when the server presented no certificate', () => {
    const error = pinCheck({ getPeerX509Certificate: () => undefined } as unknown as TLSSocket, [
      cert.fingerprint,
    ]);
    expect(error?.code).toBe('TLS_PIN_MISMATCH');
    expect(error?.message).toBe(
      'the server presented no TLS certificate, so the pin cannot be checked',
    );
    expect(error?.details).toEqual({ expected: [cert.fingerprint], presented: null });
  });
});
