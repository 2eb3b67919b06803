import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, createServer } from 'node:tls';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  ensureGatewayCertificate,
  fingerprintOf,
  gatewayCertificatePaths,
  readGatewayFingerprint,
  subjectAltNamesFor,
} from '../src/tls/index.js';

let stateDir: string;
beforeEach(async () => {
  stateDir = await mkdtemp(join(tmpdir(), 'loopgate-tls-'));
});
afterEach(async () => {
  await rm(stateDir, { recursive: true, force: true });
});

describe('ensureGatewayCertificate', () => {
  it('generates a self-signed certificate once, stores it 0600 and reuses it across restarts', async () => {
    const first = await ensureGatewayCertificate({
      stateDir,
      hosts: ['127.0.0.1', '::1', '100.101.102.103', 'box.tail1.ts.net'],
    });
    expect(first.generated).toBe(true);
    expect(first.fingerprint).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    const { certPath, keyPath } = gatewayCertificatePaths(stateDir);
    expect((await stat(certPath)).mode & 0o777).toBe(0o600);
    expect((await stat(keyPath)).mode & 0o777).toBe(0o600);

    const san = new X509Certificate(first.cert).subjectAltName ?? '';
    for (const name of [
      'DNS:localhost',
      'DNS:box.tail1.ts.net',
      'IP Address:127.0.0.1',
      'IP Address:100.101.102.103',
    ]) {
      expect(san).toContain(name);
    }

    const second = await ensureGatewayCertificate({ stateDir, hosts: ['127.0.0.1'] });
    expect(second).toMatchObject({
      generated: false,
      fingerprint: first.fingerprint,
      cert: first.cert,
    });
  });

  it('serves real TLS whose presented fingerprint is the one reported', async () => {
    const { cert, key, fingerprint } = await ensureGatewayCertificate({
      stateDir,
      hosts: ['127.0.0.1'],
    });
    const server = createServer({ cert, key }, (socket) => socket.end());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const presented = await new Promise<string>((resolve, reject) => {
        // Verified against the certificate itself as the only CA, with the host name checked too.
        const socket = connect(
          {
            host: '127.0.0.1',
            port: (server.address() as AddressInfo).port,
            ca: cert,
            servername: 'localhost',
          },
          () => {
            resolve(fingerprintOf(socket.getPeerCertificate().raw));
            socket.destroy();
          },
        );
        socket.on('error', reject);
      });
      expect(presented).toBe(fingerprint);
    } finally {
      server.close();
    }
  });

  it('uses operator-supplied files as they are', async () => {
    const generated = await ensureGatewayCertificate({ stateDir, hosts: [] });
    const certPath = join(stateDir, 'mine.pem');
    const keyPath = join(stateDir, 'mine.key');
    await writeFile(certPath, generated.cert);
    await writeFile(keyPath, generated.key);
    const loaded = await ensureGatewayCertificate({
      stateDir: join(stateDir, 'other'),
      hosts: [],
      certPath,
      keyPath,
    });
    expect(loaded).toMatchObject({ generated: false, fingerprint: generated.fingerprint });
  });

  it('rejects missing, half-given, corrupt or mismatched files with a clear error and no path', async () => {
    const a = await ensureGatewayCertificate({ stateDir: join(stateDir, 'a'), hosts: [] });
    const b = await ensureGatewayCertificate({ stateDir: join(stateDir, 'b'), hosts: [] });
    const certPath = join(stateDir, 'c.pem');
    const keyPath = join(stateDir, 'k.pem');
    await expect(ensureGatewayCertificate({ stateDir, hosts: [], certPath })).rejects.toMatchObject(
      {
        code: 'BAD_REQUEST',
        message: expect.stringContaining('both certPath and keyPath'),
      },
    );
    await expect(
      ensureGatewayCertificate({ stateDir, hosts: [], certPath, keyPath }),
    ).rejects.toMatchObject({
      code: 'BAD_REQUEST',
      message: expect.stringContaining('no such file'),
    });
    await writeFile(certPath, a.cert);
    await writeFile(keyPath, b.key);
    await expect(
      ensureGatewayCertificate({ stateDir, hosts: [], certPath, keyPath }),
    ).rejects.toMatchObject({
      message: expect.stringContaining('does not belong'),
    });
    await writeFile(certPath, 'garbage');
    const error = await ensureGatewayCertificate({ stateDir, hosts: [], certPath, keyPath }).then(
      () => new Error('expected a rejection'),
      (e: Error) => e,
    );
    expect(error.message).toContain('not valid PEM');
    expect(error.message).not.toContain(stateDir);
  });
});

describe('fingerprintOf', () => {
  it('gives the same answer for PEM and DER, matching node’s own fingerprint256', async () => {
    const { cert } = await ensureGatewayCertificate({ stateDir, hosts: [] });
    const x509 = new X509Certificate(cert);
    expect(fingerprintOf(cert)).toBe(x509.fingerprint256);
    expect(fingerprintOf(x509.raw)).toBe(x509.fingerprint256);
  });
});

describe('subjectAltNamesFor', () => {
  it('always covers loopback, drops wildcards and splits names from addresses', () => {
    expect(
      subjectAltNamesFor(['0.0.0.0', '::', '[fd00::1]', 'Gateway.Example.com', '10.0.0.1']),
    ).toEqual({
      dns: ['localhost', 'gateway.example.com'],
      ips: ['127.0.0.1', '::1', 'fd00::1', '10.0.0.1'],
    });
  });
});

describe('readGatewayFingerprint', () => {
  it('reads the fingerprint without generating a certificate', async () => {
    expect(await readGatewayFingerprint({ stateDir })).toBeUndefined();
    const { fingerprint } = await ensureGatewayCertificate({ stateDir, hosts: [] });
    expect(await readGatewayFingerprint({ stateDir })).toMatchObject({
      fingerprint,
      selfSigned: true,
    });
    const certPath = join(stateDir, 'bad.pem');
    await writeFile(certPath, 'nope');
    await expect(readGatewayFingerprint({ stateDir, certPath })).rejects.toMatchObject({
      code: 'BAD_REQUEST',
    });
  });
});
