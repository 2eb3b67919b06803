import type { NetworkInterfaceInfo } from 'node:os';
import { networkInterfaces } from 'node:os';
import { describe, expect, it } from 'vitest';
import {
  assertBindAllowed,
  bindRefusalMessage,
  isLoopbackAddress,
  isTailnetAddress,
  requiresExplicitAuth,
  resolveBindHosts,
} from '../src/transport/bind.js';
import { thrown } from './rejection.js';

function iface(address: string, internal = false): NetworkInterfaceInfo {
  const v6 = address.includes(':');
  return v6
    ? {
        address,
        netmask: 'ffff:ffff:ffff:ffff::',
        family: 'IPv6',
        mac: '00:00:00:00:00:00',
        internal,
        cidr: null,
        scopeid: 0,
      }
    : {
        address,
        netmask: '255.255.255.0',
        family: 'IPv4',
        mac: '00:00:00:00:00:00',
        internal,
        cidr: null,
      };
}

const laptop = {
  lo: [iface('127.0.0.1', true), iface('::1', true)],
  eth0: [iface('192.168.1.20'), iface('fe80::1')],
  tailscale0: [iface('100.101.102.103'), iface('fd7a:115c:a1e0::1234')],
};
const noTailscale = { lo: [iface('127.0.0.1', true)], eth0: [iface('10.0.0.5')] };

describe('resolveBindHosts', () => {
  it('loopback listens on 127.0.0.1 and ::1 when IPv6 is available', () => {
    expect(resolveBindHosts('loopback', { interfaces: laptop })).toEqual(['127.0.0.1', '::1']);
    expect(resolveBindHosts('loopback', { interfaces: laptop, ipv6Available: false })).toEqual([
      '127.0.0.1',
    ]);
    expect(resolveBindHosts('loopback', { interfaces: noTailscale })).toEqual(['127.0.0.1']);
  });

  it('lan listens on the wildcard addresses', () => {
    expect(resolveBindHosts('lan', { interfaces: laptop })).toEqual(['0.0.0.0', '::']);
    expect(resolveBindHosts('lan', { interfaces: noTailscale })).toEqual(['0.0.0.0']);
  });

  it('tailnet adds the Tailscale addresses (IPv4 first) to loopback', () => {
    expect(resolveBindHosts('tailnet', { interfaces: laptop })).toEqual([
      '127.0.0.1',
      '::1',
      '100.101.102.103',
      'fd7a:115c:a1e0::1234',
    ]);
  });

  it('tailnet without a Tailscale address fails with a clear reason', () => {
    const error = thrown(() => resolveBindHosts('tailnet', { interfaces: noTailscale }));
    expect(error.code).toBe('UNAVAILABLE');
    expect(error.message).toContain('100.64.0.0/10');
    expect(error.message).toContain('Tailscale');
  });

  it('custom adds customBindHost to loopback and requires it', () => {
    expect(
      resolveBindHosts('custom', { interfaces: laptop, customBindHost: '192.168.1.20' }),
    ).toEqual(['127.0.0.1', '::1', '192.168.1.20']);
    expect(
      resolveBindHosts('custom', { interfaces: noTailscale, customBindHost: '127.0.0.1' }),
    ).toEqual(['127.0.0.1']);
    expect(
      resolveBindHosts('custom', { interfaces: laptop, customBindHost: '[fd00::5]' }),
    ).toContain('fd00::5');
    const error = thrown(() => resolveBindHosts('custom', { interfaces: laptop }));
    expect(error.code).toBe('BAD_REQUEST');
    expect(error.message).toContain('gateway.customBindHost');
  });

  it('auto prefers loopback, else the first usable IPv4 address', () => {
    expect(resolveBindHosts('auto', { interfaces: laptop })).toEqual(['127.0.0.1', '::1']);
    expect(
      resolveBindHosts('auto', {
        interfaces: { eth0: [iface('fe80::2'), iface('fd00::7'), iface('10.1.2.3')] },
      }),
    ).toEqual(['10.1.2.3']);
    expect(resolveBindHosts('auto', { interfaces: { eth0: [iface('fd00::7')] } })).toEqual([
      'fd00::7',
    ]);
    expect(thrown(() => resolveBindHosts('auto', { interfaces: {} })).code).toBe('UNAVAILABLE');
  });

  it('works on this machine’s real interfaces', () => {
    expect(resolveBindHosts('loopback', { interfaces: networkInterfaces() })[0]).toBe('127.0.0.1');
  });
});

describe('isLoopbackAddress', () => {
  it.each([
    ['127.0.0.1', true],
    ['127.8.9.10', true],
    ['::1', true],
    ['[::1]', true],
    ['::ffff:127.0.0.1', true],
    ['0:0:0:0:0:0:0:1', true],
    ['128.0.0.1', false],
    ['::ffff:10.0.0.1', false],
    ['0.0.0.0', false],
    ['::', false],
    ['100.64.0.1', false],
    ['localhost', false],
    ['', false],
    [undefined, false],
  ])('%s → %s', (address, expected) => {
    expect(isLoopbackAddress(address)).toBe(expected);
  });
});

describe('isTailnetAddress', () => {
  it.each([
    ['100.64.0.1', true],
    ['100.127.255.254', true],
    ['100.63.255.255', false],
    ['100.128.0.1', false],
    ['fd7a:115c:a1e0::1', true],
    ['fd7a:115c:a1e1::1', false],
  ])('%s → %s', (address, expected) => {
    expect(isTailnetAddress(address)).toBe(expected);
  });
});

describe('explicit auth for non-loopback binds', () => {
  it('only loopback-only binds go without an explicit credential', () => {
    expect(requiresExplicitAuth('loopback', ['127.0.0.1', '::1'])).toBe(false);
    expect(requiresExplicitAuth('lan', ['0.0.0.0'])).toBe(true);
    expect(requiresExplicitAuth('tailnet', ['127.0.0.1', '100.64.0.9'])).toBe(true);
    expect(requiresExplicitAuth('custom', ['127.0.0.1'])).toBe(false);
    expect(requiresExplicitAuth('custom', ['127.0.0.1', '192.168.1.20'])).toBe(true);
    expect(requiresExplicitAuth('auto', ['127.0.0.1', '::1'])).toBe(false);
    expect(requiresExplicitAuth('auto', ['10.1.2.3'])).toBe(true);
  });

  it('refuses a lan bind without a credential, saying how to set one', () => {
    const error = thrown(() => assertBindAllowed('lan', ['0.0.0.0', '::'], false));
    expect(error.code).toBe('FORBIDDEN');
    expect(error.message).toContain('gateway.auth.token');
    expect(error.message).toContain('LOOPGATE_GATEWAY_TOKEN');
    expect(error.message).toContain('0.0.0.0');
    expect(() => assertBindAllowed('lan', ['0.0.0.0'], true)).not.toThrow();
    expect(() => assertBindAllowed('loopback', ['127.0.0.1'], false)).not.toThrow();
  });

  it('names only the exposed addresses', () => {
    const message = bindRefusalMessage('custom', ['127.0.0.1', '192.168.1.20']);
    expect(message).toContain('listen on 192.168.1.20 (gateway.bind "custom")');
  });
});
