import { createHash, createPrivateKey, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { GatewayError } from '@loopgate/protocol';
import { writeFileAtomic } from '../store/index.js';

/**
 * The gateway's TLS identity. With operator-supplied `certPath`/`keyPath`
 * those files are used as they are. Otherwise a self-signed certificate is
 * generated ONCE and kept in `<stateDir>/tls/` (mode 0600): clients pin its
 * fingerprint, so regenerating it on every start would break every pin.
 */

export type GatewayCertificate = {
  cert: string;
  key: string;
  /** SHA-256 of the DER certificate, `AA:BB:…` — what clients pin. */
  fingerprint: string;
  /** True when this call generated the pair (first start). */
  generated: boolean;
};

export type EnsureCertificateOptions = {
  stateDir: string;
  /** Names and addresses the gateway is reached by; loopback names are always included. */
  hosts: readonly string[];
  certPath?: string | undefined;
  keyPath?: string | undefined;
};

const CERT_FILE = 'gateway-cert.pem';
const KEY_FILE = 'gateway-key.pem';
const VALIDITY_DAYS = 3650;

export function gatewayCertificatePaths(stateDir: string): { certPath: string; keyPath: string } {
  return { certPath: join(stateDir, 'tls', CERT_FILE), keyPath: join(stateDir, 'tls', KEY_FILE) };
}

export async function ensureGatewayCertificate(
  options: EnsureCertificateOptions,
): Promise<GatewayCertificate> {
  if (options.certPath || options.keyPath) {
    if (!options.certPath || !options.keyPath) {
      throw new GatewayError(
        'BAD_REQUEST',
        'gateway.tls needs both certPath and keyPath, or neither (self-signed)',
      );
    }
    const files = await readPair(options.certPath, options.keyPath);
    if (!files)
      throw new GatewayError('BAD_REQUEST', 'gateway.tls.certPath or keyPath: no such file');
    return checkedPair(files, 'gateway.tls.certPath/keyPath');
  }
  const { certPath, keyPath } = gatewayCertificatePaths(options.stateDir);
  const existing = await readPair(certPath, keyPath);
  if (existing)
    return checkedPair(
      existing,
      'the generated certificate in the state dir (delete its tls/ folder to regenerate)',
    );

  const { cert, key } = await generateSelfSigned(options.hosts);
  // Key first: a crash between the two writes leaves no certificate, so the next start regenerates both.
  await writeFileAtomic(keyPath, key, { mode: 0o600 });
  await writeFileAtomic(certPath, cert, { mode: 0o600 });
  return { cert, key, fingerprint: fingerprintOf(cert), generated: true };
}

/** SHA-256 of a certificate (PEM text or DER bytes) as uppercase colon-separated hex. */
export function fingerprintOf(certificate: string | Uint8Array): string {
  const der = typeof certificate === 'string' ? new X509Certificate(certificate).raw : certificate;
  return createHash('sha256')
    .update(der)
    .digest('hex')
    .toUpperCase()
    .replace(/(..)(?!$)/g, '$1:');
}

/** The DNS names and IP addresses a certificate is issued for, from `hosts` plus loopback. */
export function subjectAltNamesFor(hosts: readonly string[]): { dns: string[]; ips: string[] } {
  const dns = new Set(['localhost']);
  const ips = new Set(['127.0.0.1', '::1']);
  for (const raw of hosts) {
    const host = raw.replace(/^\[|\]$/g, '').toLowerCase();
    // Wildcard listen addresses are not names anyone dials.
    if (!host || host === '0.0.0.0' || host === '::') continue;
    if (isIP(host) !== 0) ips.add(host);
    else dns.add(host);
  }
  return { dns: [...dns], ips: [...ips] };
}

async function generateSelfSigned(
  hosts: readonly string[],
): Promise<{ cert: string; key: string }> {
  const { dns, ips } = subjectAltNamesFor(hosts);
  // Loaded here, not at the top: with its X.509/ASN.1 stack it is a third of
  // the gateway's code and ~40 ms of start-up, needed once per state dir and
  // only when TLS is on.
  const { generate } = await import('selfsigned');
  const notBeforeDate = new Date(Date.now() - 60_000);
  const pems = await generate([{ name: 'commonName', value: 'loopgate gateway' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate,
    notAfterDate: new Date(notBeforeDate.getTime() + VALIDITY_DAYS * 86_400_000),
    extensions: [
      { name: 'basicConstraints', cA: false, critical: true },
      { name: 'keyUsage', digitalSignature: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          ...dns.map((value) => ({ type: 2 as const, value })),
          ...ips.map((ip) => ({ type: 7 as const, ip })),
        ],
      },
    ],
  });
  return { cert: pems.cert, key: pems.private };
}

/** Both files' text, or undefined when either does not exist yet. */
async function readPair(
  certPath: string,
  keyPath: string,
): Promise<{ cert: string; key: string } | undefined> {
  try {
    const [cert, key] = await Promise.all([readFile(certPath, 'utf8'), readFile(keyPath, 'utf8')]);
    return { cert, key };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    throw new GatewayError(
      'BAD_REQUEST',
      `cannot read the gateway TLS certificate or key: ${code ?? 'unreadable'}`,
    );
  }
}

function checkedPair(files: { cert: string; key: string }, what: string): GatewayCertificate {
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(files.cert);
  } catch {
    throw new GatewayError('BAD_REQUEST', `${what}: the certificate is not valid PEM`);
  }
  let matches: boolean;
  try {
    matches = certificate.checkPrivateKey(createPrivateKey(files.key));
  } catch {
    throw new GatewayError('BAD_REQUEST', `${what}: the private key is not valid PEM`);
  }
  if (!matches)
    throw new GatewayError('BAD_REQUEST', `${what}: the key does not belong to the certificate`);
  return { ...files, fingerprint: fingerprintOf(certificate.raw), generated: false };
}

/**
 * The fingerprint of the certificate the gateway serves (or will serve), read
 * without generating anything: `undefined` when no certificate exists yet.
 * For `loopgate gateway tls fingerprint`, which must work with the gateway stopped.
 */
export async function readGatewayFingerprint(options: {
  stateDir: string;
  certPath?: string | undefined;
}): Promise<{ fingerprint: string; certPath: string; selfSigned: boolean } | undefined> {
  const certPath = options.certPath ?? gatewayCertificatePaths(options.stateDir).certPath;
  let pem: string;
  try {
    pem = await readFile(certPath, 'utf8');
  } catch (error) {
    if (isMissingFile(error)) return undefined;
    throw new GatewayError(
      'BAD_REQUEST',
      `cannot read the gateway TLS certificate: ${(error as NodeJS.ErrnoException).code ?? 'unreadable'}`,
    );
  }
  try {
    return {
      fingerprint: fingerprintOf(pem),
      certPath,
      selfSigned: options.certPath === undefined,
    };
  } catch {
    throw new GatewayError('BAD_REQUEST', 'the gateway TLS certificate is not valid PEM');
  }
}

function isMissingFile(error: unknown): boolean {
  return (error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
}
