/**
 * Upgrade admission: the decisions taken on an HTTP upgrade request BEFORE
 * `wss.handleUpgrade`, so a refused browser or flood never becomes a
 * WebSocket (HARDENING rows 7, 8, 9, 11).
 *
 * Wiring (transport, on the HTTP server's 'upgrade' event):
 *
 *   const decision = admitUpgrade(
 *     { headers: req.headers, remoteAddress: req.socket.remoteAddress },
 *     { policy, connections, limiter, now: Date.now() },
 *   );
 *   if (!decision.ok) return writeUpgradeRefusal(socket, decision);
 *   wss.handleUpgrade(req, socket, head, (ws) => ... decision.isLoopback, decision.tailscaleIdentity ...);
 *
 * - `policy` comes from config once per listener: see `admissionPolicyFrom`.
 * - `connections` answers live counts (total and per address); the caller
 *   increments them when the socket is accepted and decrements on close.
 * - `limiter` is the same `FailedAttemptLimiter` the auth check records
 *   failures in; here it only refuses addresses that are locked out.
 *
 * Checks, in order, first refusal wins:
 *   1. Host header missing → 400; not loopback, a bound address or an allowed
 *      name → 421 (DNS rebinding: a page on evil.example re-pointed at
 *      127.0.0.1 still says `Host: evil.example`).
 *   2. Origin present and the literal `null` or not allowed → 403 (cross-site
 *      WebSocket hijacking). No Origin (CLI, native clients) is fine. A
 *      same-origin page (Origin host equals the accepted Host) is fine.
 *   3. Address locked out by the failed-auth limiter → 429 + Retry-After.
 *   4. Per-address connection cap (IPv6 counted by /64) → 429; global cap → 503,
 *      unless the oldest socket that has sent no credential yet can be closed
 *      (1013) to make room.
 *
 * Tailscale identity headers are returned only when `allowTailscale` is on,
 * the peer is loopback and the request carries Serve's forwarding headers
 * (`x-forwarded-for`, `-proto`, `-host`); from any other peer they are
 * ignored. Even then they are only a claim: the auth check confirms it with
 * `tailscale whois` before it counts (see auth/tailscale-whois.ts).
 */
import type { IncomingHttpHeaders } from 'node:http';
import { isIP } from 'node:net';
import type { Duplex } from 'node:stream';
import type { LoopgateConfig } from '@loopgate/protocol';
import type { AttemptSource, FailedAttemptLimiter } from '../auth/rate-limiter.js';
import { addressKey } from '../auth/rate-limiter.js';
import { isLoopbackAddress } from './bind.js';

export type UpgradeRequest = {
  headers: IncomingHttpHeaders;
  /** `req.socket.remoteAddress`; undefined when the socket is already gone. */
  remoteAddress: string | undefined;
};

export type AdmissionPolicy = {
  /** Normalised origins (`scheme://host[:port]`) browsers may connect from. */
  allowedOrigins: readonly string[];
  /** Extra Host names accepted besides loopback and the bound addresses. */
  allowedHosts: readonly string[];
  /** Addresses the listener is bound to (from `resolveBindHosts`). */
  boundHosts: readonly string[];
  maxConnections: number;
  maxConnectionsPerAddress: number;
  allowTailscale: boolean;
};

export type ConnectionCounts = {
  total(): number;
  /** Sockets open from one `addressKey` (IPv6: one /64). */
  forAddress(addressKey: string): number;
  /**
   * At the global cap: closes the oldest socket that has sent no credential
   * yet and returns true, or returns false when every socket has one.
   */
  makeRoom?(): boolean;
};

export type TailscaleIdentity = {
  login: string;
  /** The tailnet client address Serve forwarded for: what `tailscale whois` is asked about. */
  clientAddress: string;
  name: string | undefined;
  profilePicture: string | undefined;
};

export type AdmissionAccepted = {
  ok: true;
  remoteAddress: string;
  isLoopback: boolean;
  /** What the per-address caps count by: the address, or for IPv6 its /64 (as the lockout keys it). */
  addressKey: string;
  /** For the failed-auth limiter and the auth check: the same source admission judged. */
  attemptSource: AttemptSource;
  /** Set only when allowTailscale is on and the request came through a loopback proxy. */
  tailscaleIdentity: TailscaleIdentity | undefined;
};

export type AdmissionRefused = {
  ok: false;
  status: 400 | 403 | 421 | 429 | 503;
  /** Operator-facing, safe to send to the peer: names what was wrong, never a secret. */
  reason: string;
  headers?: Record<string, string>;
};

export type AdmissionDecision = AdmissionAccepted | AdmissionRefused;

export type AdmissionContext = {
  policy: AdmissionPolicy;
  connections: ConnectionCounts;
  limiter: FailedAttemptLimiter;
  now: number;
};

/** Builds the policy from config and the hosts the listener actually bound. */
export function admissionPolicyFrom(
  config: LoopgateConfig,
  boundHosts: readonly string[],
): AdmissionPolicy {
  const { auth, limits } = config.gateway;
  return {
    allowedOrigins: auth.allowedOrigins
      .map(normaliseOrigin)
      .filter((o): o is string => o !== undefined),
    allowedHosts: auth.allowedHosts.map((h) => h.toLowerCase()),
    boundHosts,
    maxConnections: limits.maxConnections,
    maxConnectionsPerAddress: limits.maxConnectionsPerAddress,
    allowTailscale: auth.allowTailscale,
  };
}

export function admitUpgrade(
  request: UpgradeRequest,
  context: AdmissionContext,
): AdmissionDecision {
  const { policy, connections, limiter, now } = context;
  const remoteAddress = normaliseAddress(request.remoteAddress ?? '');
  const isLoopback = isLoopbackAddress(remoteAddress);
  const header = (name: string) => firstHeader(request.headers[name]);

  const host = parseHostHeader(header('host'));
  if (host === undefined) return refuse(400, 'missing or malformed Host header');
  const tailscaleProxied =
    policy.allowTailscale &&
    isLoopback &&
    header('tailscale-user-login') !== undefined &&
    SERVE_FORWARDING_HEADERS.every((name) => header(name) !== undefined);
  if (!isHostAccepted(host.hostname, policy, tailscaleProxied)) {
    return refuse(
      421,
      `Host "${host.hostname}" is not this gateway: add it to gateway.auth.allowedHosts if it is a name you use to reach it`,
    );
  }

  const origin = header('origin');
  if (origin !== undefined && !isOriginAccepted(origin, host.value, policy)) {
    return refuse(
      403,
      origin === 'null'
        ? 'Origin "null" (sandboxed or file page) may not open a gateway socket'
        : `Origin "${origin.slice(0, 200)}" is not allowed: add it to gateway.auth.allowedOrigins to let that page connect`,
    );
  }

  // A request relayed onto loopback by a proxy speaks for a remote user, so it
  // loses the loopback exemption just like a browser page does.
  const proxied = tailscaleProxied || header('x-forwarded-for') !== undefined;
  const attemptSource: AttemptSource = {
    address: remoteAddress,
    isLoopback,
    hasOrigin: origin !== undefined || proxied,
  };
  const limit = limiter.check(attemptSource, now);
  if (!limit.allowed) {
    const seconds = Math.max(1, Math.ceil(limit.retryAfterMs / 1000));
    return refuse(
      429,
      `too many failed authentication attempts from this address: retry in ${seconds} s`,
      {
        'Retry-After': String(seconds),
      },
    );
  }

  const key = addressKey(remoteAddress);
  if (connections.forAddress(key) >= policy.maxConnectionsPerAddress) {
    return refuse(
      429,
      `too many connections from this address (limit ${policy.maxConnectionsPerAddress})`,
      {
        'Retry-After': '1',
      },
    );
  }
  // Silent sockets only hold a place (for authTimeoutMs at most): a stranger redialling them
  // must not keep a credentialed operator out, so the oldest one gives way.
  if (connections.total() >= policy.maxConnections && !connections.makeRoom?.()) {
    return refuse(503, `gateway is at its connection limit (${policy.maxConnections})`, {
      'Retry-After': '1',
    });
  }

  return {
    ok: true,
    remoteAddress,
    isLoopback,
    addressKey: key,
    attemptSource,
    tailscaleIdentity: tailscaleProxied ? tailscaleIdentityFrom(request.headers) : undefined,
  };
}

const STATUS_TEXT: Record<AdmissionRefused['status'], string> = {
  400: 'Bad Request',
  403: 'Forbidden',
  421: 'Misdirected Request',
  429: 'Too Many Requests',
  503: 'Service Unavailable',
};

/** Answers a refused upgrade on the raw socket with a plain HTTP response and closes it. */
export function writeUpgradeRefusal(socket: Duplex, refusal: AdmissionRefused): void {
  const body = `${refusal.reason}\n`;
  const headers = {
    Connection: 'close',
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': String(Buffer.byteLength(body)),
    ...refusal.headers,
  };
  const head = Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('');
  // Destroy once the answer is handed to the kernel: a peer that never reads
  // would otherwise keep a half-open socket (HTTP servers allow half-open),
  // and a flood of refused dials would pile up sockets anyway.
  if (socket.writable)
    socket.end(
      `HTTP/1.1 ${refusal.status} ${STATUS_TEXT[refusal.status]}\r\n${head}\r\n${body}`,
      () => socket.destroy(),
    );
  else socket.destroy();
}

/** `scheme://host[:port]` in lowercase, or undefined when `value` is not an origin. */
export function normaliseOrigin(value: string): string | undefined {
  if (value === 'null') return undefined;
  try {
    const url = new URL(value);
    return url.origin === 'null' ? undefined : url.origin.toLowerCase();
  } catch {
    // An Origin that is not a URL matches no allowed origin: the caller refuses it.
    return undefined;
  }
}

function isOriginAccepted(origin: string, hostHeader: string, policy: AdmissionPolicy): boolean {
  const normalised = normaliseOrigin(origin);
  if (normalised === undefined) return false;
  if (policy.allowedOrigins.includes(normalised)) return true;
  // Same-origin: a page served by this gateway under a Host already accepted above.
  return new URL(normalised).host === hostHeader.toLowerCase();
}

function isHostAccepted(
  hostname: string,
  policy: AdmissionPolicy,
  tailscaleProxied: boolean,
): boolean {
  if (hostname === 'localhost' || hostname.endsWith('.localhost') || isLoopbackAddress(hostname))
    return true;
  if (policy.allowedHosts.includes(hostname)) return true;
  if (policy.boundHosts.some((b) => normaliseAddress(b) === hostname)) return true;
  // A wildcard bind answers on every interface; an IP literal cannot be a
  // rebound DNS name, so any address literal is fine there.
  const wildcard = policy.boundHosts.some((b) => b === '0.0.0.0' || b === '::');
  if (wildcard && isIP(hostname) !== 0) return true;
  // Tailscale Serve forwards with the node's MagicDNS name as Host.
  return tailscaleProxied && hostname.endsWith('.ts.net');
}

/** `{ hostname, value }` from a Host header (`name`, `name:port`, `[v6]:port`), lowercase, brackets removed. */
function parseHostHeader(raw: string | undefined): { hostname: string; value: string } | undefined {
  if (!raw) return undefined;
  const value = raw.trim().toLowerCase();
  const match = /^(\[[0-9a-f:.]+\]|[^\s:[\]/@]+)(?::(\d{1,5}))?$/.exec(value);
  if (!match?.[1]) return undefined;
  return { hostname: normaliseAddress(match[1]), value };
}

function normaliseAddress(address: string): string {
  const bare = address.startsWith('[') && address.endsWith(']') ? address.slice(1, -1) : address;
  const lower = bare.toLowerCase();
  return lower.startsWith('::ffff:') && isIP(lower.slice(7)) === 4 ? lower.slice(7) : lower;
}

/** What Tailscale Serve adds to every request it proxies onto loopback. */
const SERVE_FORWARDING_HEADERS = ['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host'];

function tailscaleIdentityFrom(headers: IncomingHttpHeaders): TailscaleIdentity | undefined {
  const login = firstHeader(headers['tailscale-user-login'])?.trim();
  // Serve sends one address; anything else is not Serve's header.
  const clientAddress = firstHeader(headers['x-forwarded-for'])?.trim();
  if (!login || !clientAddress) return undefined;
  return {
    login,
    clientAddress,
    name: firstHeader(headers['tailscale-user-name']),
    profilePicture: firstHeader(headers['tailscale-user-profile-pic']),
  };
}

function firstHeader(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function refuse(
  status: AdmissionRefused['status'],
  reason: string,
  headers?: Record<string, string>,
): AdmissionRefused {
  return headers ? { ok: false, status, reason, headers } : { ok: false, status, reason };
}
