import { isIP } from 'node:net';
import type { NetworkInterfaceInfo } from 'node:os';
import { type BindMode, GatewayError } from '@loopgate/protocol';

/**
 * Which addresses the gateway listens on, decided from `gateway.bind` and the
 * host's interfaces. Pure: the caller passes `os.networkInterfaces()`, so the
 * decision is testable and the listener only does I/O.
 *
 * Listening note for the caller: when the list holds both `0.0.0.0` and `::`,
 * listen on `::` with `ipv6Only: true`, otherwise Linux's dual-stack `::`
 * socket also claims IPv4 and the `0.0.0.0` listen fails with EADDRINUSE.
 */

export type NetworkInterfaces = NodeJS.Dict<NetworkInterfaceInfo[]>;

export type BindInputs = {
  /** `gateway.customBindHost`; required for mode `custom`. */
  customBindHost?: string | undefined;
  /** `os.networkInterfaces()`. */
  interfaces: NetworkInterfaces;
  /** Whether `::1` can be bound; defaults to "an interface carries ::1". */
  ipv6Available?: boolean | undefined;
};

const IPV4_LOOPBACK = '127.0.0.1';
const IPV6_LOOPBACK = '::1';

/** Hosts to listen on for `mode`, loopback first, without duplicates. */
export function resolveBindHosts(mode: BindMode, inputs: BindInputs): string[] {
  const ipv6 = inputs.ipv6Available ?? hasIpv6Loopback(inputs.interfaces);
  const loopback = ipv6 ? [IPV4_LOOPBACK, IPV6_LOOPBACK] : [IPV4_LOOPBACK];
  switch (mode) {
    case 'loopback':
      return loopback;
    case 'lan':
      return ipv6 ? ['0.0.0.0', '::'] : ['0.0.0.0'];
    case 'tailnet': {
      const tailnet = tailnetAddresses(inputs.interfaces);
      if (tailnet.length === 0) {
        throw new GatewayError(
          'UNAVAILABLE',
          'gateway.bind is "tailnet" but this host has no Tailscale address (100.64.0.0/10 or fd7a:115c:a1e0::/48): is Tailscale up? Or choose another gateway.bind',
        );
      }
      return unique([...loopback, ...tailnet]);
    }
    case 'custom': {
      const host = inputs.customBindHost?.trim();
      if (!host) {
        throw new GatewayError(
          'BAD_REQUEST',
          'gateway.bind is "custom" but gateway.customBindHost is not set: give the address to listen on (e.g. 192.168.1.10)',
        );
      }
      return unique([...loopback, stripBrackets(host)]);
    }
    case 'auto': {
      if (hasIpv4Loopback(inputs.interfaces)) return loopback;
      const usable = externalAddresses(inputs.interfaces);
      const first = usable.find((a) => a.family === 'IPv4') ?? usable[0];
      if (!first) {
        throw new GatewayError(
          'UNAVAILABLE',
          'gateway.bind is "auto" but this host has neither a loopback nor any other usable address',
        );
      }
      return [first.address];
    }
  }
}

/** True for 127.0.0.0/8, ::1 and their IPv4-mapped forms (`::ffff:127.0.0.1`). */
export function isLoopbackAddress(address: string | undefined): boolean {
  if (!address) return false;
  const addr = stripBrackets(address).toLowerCase();
  if (addr === '::1' || addr === '0:0:0:0:0:0:0:1') return true;
  const v4 = addr.startsWith('::ffff:') ? addr.slice('::ffff:'.length) : addr;
  return isIP(v4) === 4 && v4.startsWith('127.');
}

/** True when the host answers only on loopback: nothing else can reach it, so no explicit credential is needed. */
export function isLoopbackOnly(hosts: readonly string[]): boolean {
  return (
    hosts.length > 0 && hosts.every((h) => isLoopbackAddress(h) || h.toLowerCase() === 'localhost')
  );
}

/**
 * Whether `mode` (resolved to `hosts`) exposes the gateway beyond this host
 * and so needs a token or password the operator set on purpose. `loopback`
 * never does; `custom`/`auto` depend on what they resolved to; `lan` and
 * `tailnet` always do.
 */
export function requiresExplicitAuth(mode: BindMode, hosts: readonly string[] = []): boolean {
  if (mode === 'loopback') return false;
  if (mode === 'lan' || mode === 'tailnet') return true;
  return !isLoopbackOnly(hosts);
}

/** The operator-facing refusal for a non-loopback bind without a deliberately set credential. */
export function bindRefusalMessage(mode: BindMode, hosts: readonly string[]): string {
  const exposed = hosts.filter((h) => !isLoopbackAddress(h));
  return (
    `refusing to listen on ${exposed.join(', ') || hosts.join(', ')} (gateway.bind "${mode}") without an explicitly set token or password: ` +
    'set gateway.auth.token (at least 16 characters) in the config or LOOPGATE_GATEWAY_TOKEN in the environment ' +
    '(or gateway.auth.mode "password" with gateway.auth.password); the auto-generated local token does not count, ' +
    'so that exposing the gateway is always a conscious act'
  );
}

/**
 * Throws the refusal when a non-loopback bind has no explicitly configured
 * credential. `explicitCredential` must be false for the auto-generated local
 * token: only config or environment count.
 */
export function assertBindAllowed(
  mode: BindMode,
  hosts: readonly string[],
  explicitCredential: boolean,
): void {
  if (requiresExplicitAuth(mode, hosts) && !explicitCredential) {
    throw new GatewayError('FORBIDDEN', bindRefusalMessage(mode, hosts), {
      details: { bind: mode, hosts: [...hosts] },
    });
  }
}

/** Tailscale's CGNAT range 100.64.0.0/10 and its ULA prefix fd7a:115c:a1e0::/48. */
export function isTailnetAddress(address: string): boolean {
  const addr = stripBrackets(address).toLowerCase();
  if (isIP(addr) === 4) {
    const [a, b] = addr.split('.').map(Number) as [number, number];
    return a === 100 && b >= 64 && b <= 127;
  }
  return isIP(addr) === 6 && addr.startsWith('fd7a:115c:a1e0:');
}

function tailnetAddresses(interfaces: NetworkInterfaces): string[] {
  const found = allAddresses(interfaces).filter((a) => !a.internal && isTailnetAddress(a.address));
  // IPv4 first: it is what MagicDNS hands out by default and what most clients dial.
  found.sort((x, y) => (x.family === y.family ? 0 : x.family === 'IPv4' ? -1 : 1));
  return found.map((a) => a.address);
}

function externalAddresses(interfaces: NetworkInterfaces): NetworkInterfaceInfo[] {
  // Link-local IPv6 needs a scope id to be bound and is never what an operator means.
  return allAddresses(interfaces).filter(
    (a) => !a.internal && !a.address.toLowerCase().startsWith('fe80:'),
  );
}

function hasIpv4Loopback(interfaces: NetworkInterfaces): boolean {
  return allAddresses(interfaces).some((a) => a.family === 'IPv4' && isLoopbackAddress(a.address));
}

function hasIpv6Loopback(interfaces: NetworkInterfaces): boolean {
  return allAddresses(interfaces).some((a) => a.family === 'IPv6' && a.address === IPV6_LOOPBACK);
}

function allAddresses(interfaces: NetworkInterfaces): NetworkInterfaceInfo[] {
  return Object.values(interfaces).flatMap((list) => list ?? []);
}

function stripBrackets(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

function unique(hosts: string[]): string[] {
  return [...new Set(hosts)];
}
