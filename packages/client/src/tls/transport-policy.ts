import { isIP } from 'node:net';
import { GatewayError } from '@loopgate/protocol';
import type { ClientOptions } from 'ws';
import { parseFingerprints } from './fingerprint.js';
import { pinnedWebSocketOptions } from './pinned-connection.js';

/**
 * Which transports a client may use to reach a gateway. The gateway token
 * travels in the connection's first message, so plain `ws://` is only safe
 * where the bytes never leave this host. Private ranges and Tailscale names
 * are refused too: "it's only my LAN" is how credentials leak.
 */

export type PlaintextOptions = {
  /** The operator accepted sending credentials unencrypted to a non-loopback host. */
  insecurePlaintext?: boolean | undefined;
};

/** Throws unless `url` is `wss://`, or `ws://` to a loopback host, or `insecurePlaintext` was given. */
export function assertTransportAllowed(url: string, options: PlaintextOptions = {}): URL {
  const parsed = parseGatewayUrl(url);
  const secure = parsed.protocol === 'wss:';
  if (secure || isLoopbackHost(parsed.hostname) || options.insecurePlaintext) return parsed;
  throw new GatewayError(
    'FORBIDDEN',
    `refusing plain ws:// to ${parsed.hostname}: the token would cross the network unencrypted. ` +
      'Use wss:// (gateway.tls.enabled on the gateway), an SSH tunnel (--ssh user@host), ' +
      'or --insecure-plaintext if you accept that risk on this network',
    { details: { host: parsed.hostname } },
  );
}

export type GatewayTransportOptions = PlaintextOptions & {
  /** Pin(s) for the gateway's certificate; see `parseFingerprint` for the accepted forms. */
  tlsFingerprint?: string | readonly string[] | undefined;
};

/**
 * The `ws` options for connecting to `url`: checks the transport policy and,
 * with a pin, routes the connection through the pinned connector (no agent,
 * no session reuse). Without a pin `wss://` verifies against the system CAs.
 */
export function webSocketOptionsFor(
  url: string,
  options: GatewayTransportOptions = {},
): Pick<ClientOptions, 'createConnection'> {
  const parsed = assertTransportAllowed(url, options);
  if (options.tlsFingerprint === undefined) return {};
  if (parsed.protocol !== 'wss:') {
    throw new GatewayError(
      'BAD_REQUEST',
      'a TLS fingerprint was given for a ws:// URL: pinning needs wss://',
    );
  }
  return pinnedWebSocketOptions(parseFingerprints(options.tlsFingerprint));
}

/** Parses a gateway URL (`ws:`, `wss:`, or their `http:`/`https:` spellings); refuses credentials in it. */
export function parseGatewayUrl(url: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new GatewayError(
      'BAD_REQUEST',
      'gateway URL is not a valid URL: expected ws://host:port or wss://host:port',
    );
  }
  if (parsed.protocol === 'http:') parsed.protocol = 'ws:';
  else if (parsed.protocol === 'https:') parsed.protocol = 'wss:';
  if (parsed.protocol !== 'ws:' && parsed.protocol !== 'wss:') {
    throw new GatewayError(
      'BAD_REQUEST',
      `gateway URL scheme "${parsed.protocol}" is not ws:// or wss://`,
    );
  }
  if (parsed.username || parsed.password) {
    // URLs end up in shell history, logs and `status` output; credentials must not.
    throw new GatewayError(
      'BAD_REQUEST',
      'gateway URL carries credentials: pass the token with --token or LOOPGATE_GATEWAY_TOKEN instead',
    );
  }
  return parsed;
}

/** 127.0.0.0/8, ::1 (bracketed or not), IPv4-mapped loopback, and `localhost` names. */
export function isLoopbackHost(hostname: string): boolean {
  const host = (
    hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname
  ).toLowerCase();
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  if (host === '::1') return true;
  const v4 = host.startsWith('::ffff:') ? host.slice(7) : host;
  return isIP(v4) === 4 && v4.startsWith('127.');
}
