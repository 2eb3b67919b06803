import { isIP } from 'node:net';
import { type ConnectionOptions, connect, type TLSSocket } from 'node:tls';
import { GatewayError } from '@loopgate/protocol';
import type { ClientOptions } from 'ws';
import { parseFingerprints } from './fingerprint.js';

/**
 * Certificate pinning that runs BEFORE any HTTP byte of the upgrade leaves.
 *
 * Why not `checkServerIdentity`: with `rejectUnauthorized:false` Node never
 * calls it. Why not check after `open`: by then the upgrade request (and any
 * credential in it) already reached the impostor. Why no agent: a shared
 * agent may resume a TLS session and skip certificate presentation.
 *
 * Node's HTTP client accepts an asynchronous `createConnection(options,
 * callback)`: the request has no socket — and so writes nothing — until the
 * callback hands one over. We open the TLS socket ourselves, compare the
 * presented certificate's SHA-256 on `secureConnect`, and only then give the
 * socket to the request. A mismatch destroys the socket and fails the
 * request with `TLS_PIN_MISMATCH`; `ws` surfaces it as the socket's 'error'.
 */

type ConnectCallback = (error: Error | null, socket?: TLSSocket) => void;

/** What `http.request` passes to `createConnection` (the parts we use). */
type RequestConnectOptions = {
  host?: string | null;
  hostname?: string | null;
  port?: number | string | null;
  servername?: string;
};

export type PinnedConnector = (
  options: RequestConnectOptions,
  callback: ConnectCallback,
) => undefined;

/** Bounds the TCP + TLS handshake; ws's own handshakeTimeout only starts once a socket exists. */
const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;

/** `createConnection` for `ws`/`http.request` that only hands over sockets whose certificate matches a pin. */
export function createPinnedConnector(
  pins: readonly string[],
  options: { handshakeTimeoutMs?: number } = {},
): PinnedConnector {
  const expected = parseFingerprints(pins);
  const timeoutMs = options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS;
  return (requestOptions, callback) => {
    const host = stripBrackets(requestOptions.host ?? requestOptions.hostname ?? 'localhost');
    const tlsOptions: ConnectionOptions = {
      host,
      port: Number(requestOptions.port ?? 443),
      // The pin authenticates the server; CA and name checks do not apply to a pinned self-signed cert.
      rejectUnauthorized: false,
      servername: requestOptions.servername || (isIP(host) ? undefined : host),
    };
    const socket = connect(tlsOptions);
    let settled = false;
    const settle = (error: Error | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.off('error', onError);
      if (error) {
        socket.destroy();
        callback(error);
      } else {
        callback(null, socket);
      }
    };
    const onError = (error: Error) => settle(error);
    const timer = setTimeout(
      () =>
        settle(
          new GatewayError(
            'TIMEOUT',
            `TLS handshake with ${host} did not finish within ${timeoutMs} ms`,
          ),
        ),
      timeoutMs,
    );
    socket.once('error', onError);
    socket.once('secureConnect', () => settle(pinCheck(socket, expected)));
    return undefined;
  };
}

/** `ws` client options that route the connection through the pinned connector. */
export function pinnedWebSocketOptions(
  pins: readonly string[],
): Pick<ClientOptions, 'createConnection'> {
  // @types/ws types createConnection as net.createConnection; Node's http client also accepts the callback form.
  return {
    createConnection: createPinnedConnector(pins) as unknown as ClientOptions['createConnection'],
  };
}

/** null when the presented certificate matches a pin, else the error to fail with. Fails closed without a certificate. */
export function pinCheck(socket: TLSSocket, expected: readonly string[]): GatewayError | null {
  const certificate = socket.getPeerX509Certificate();
  if (!certificate) {
    return new GatewayError(
      'TLS_PIN_MISMATCH',
      'the server presented no TLS certificate, so the pin cannot be checked',
      {
        details: { expected: [...expected], presented: null },
      },
    );
  }
  const presented = certificate.fingerprint256;
  if (expected.includes(presented)) return null;
  return new GatewayError(
    'TLS_PIN_MISMATCH',
    `TLS certificate fingerprint mismatch: expected ${expected.join(' or ')}, the server presented ${presented}`,
    { details: { expected: [...expected], presented } },
  );
}

function stripBrackets(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}
