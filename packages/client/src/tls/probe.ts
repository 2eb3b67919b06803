import { connect } from 'node:tls';
import { GatewayError } from '@loopgate/protocol';
import { parseGatewayUrl } from './transport-policy.js';

/** What a server presented in its TLS handshake, for trust-on-first-use pinning. */
export type CertificateProbe = {
  host: string;
  port: number;
  /** SHA-256 of the DER certificate, `AA:BB:…`: the value to pin. */
  fingerprint: string;
  subject: string;
  issuer: string;
  subjectAltName: string | undefined;
  validFrom: string;
  validTo: string;
  /** Whether the system CAs vouch for it for this host name (false for a self-signed gateway). */
  trustedBySystem: boolean;
  /** Why the system CAs do not vouch for it, e.g. DEPTH_ZERO_SELF_SIGNED_CERT. */
  untrustedReason: string | undefined;
};

/**
 * Completes a TLS handshake with the server at `url` and reports its
 * certificate, sending no HTTP byte and no credential.
 */
export function probeCertificate(
  url: string,
  options: { timeoutMs?: number } = {},
): Promise<CertificateProbe> {
  const parsed = parseGatewayUrl(url);
  if (parsed.protocol !== 'wss:') {
    return Promise.reject(
      new GatewayError(
        'BAD_REQUEST',
        'probe needs a wss:// (or https://) URL: plain ws:// has no certificate',
      ),
    );
  }
  const host = parsed.hostname.replace(/^\[|\]$/g, '');
  const port = Number(parsed.port || 443);
  const timeoutMs = options.timeoutMs ?? 10_000;
  return new Promise((resolve, reject) => {
    const socket = connect({
      host,
      port,
      servername: /^[\d.]+$|:/.test(host) ? undefined : host,
      rejectUnauthorized: false,
    });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(
        new GatewayError('TIMEOUT', `no TLS handshake from ${host}:${port} within ${timeoutMs} ms`),
      );
    }, timeoutMs);
    socket.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(
        new GatewayError(
          'UNAVAILABLE',
          `cannot complete a TLS handshake with ${host}:${port}: ${error.code ?? error.message}`,
        ),
      );
    });
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      const certificate = socket.getPeerX509Certificate();
      const authorizationError = socket.authorizationError;
      socket.destroy();
      if (!certificate) {
        reject(
          new GatewayError('TLS_PIN_MISMATCH', `${host}:${port} presented no TLS certificate`),
        );
        return;
      }
      resolve({
        host,
        port,
        fingerprint: certificate.fingerprint256,
        subject: certificate.subject,
        issuer: certificate.issuer,
        subjectAltName: certificate.subjectAltName,
        validFrom: certificate.validFrom,
        validTo: certificate.validTo,
        trustedBySystem: socket.authorized,
        untrustedReason: authorizationError ? String(authorizationError) : undefined,
      });
    });
  });
}
