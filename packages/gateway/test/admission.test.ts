import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { LoopgateConfig } from '@loopgate/protocol';
import { afterEach, describe, expect, it, vi } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { FailedAttemptLimiter } from '../src/auth/rate-limiter.js';
import {
  type AdmissionPolicy,
  admissionPolicyFrom,
  admitUpgrade,
  type ConnectionCounts,
  normaliseOrigin,
  writeUpgradeRefusal,
} from '../src/transport/admission.js';

const policy: AdmissionPolicy = admissionPolicyFrom(
  LoopgateConfig.parse({
    gateway: {
      auth: {
        allowedOrigins: ['https://Dashboard.example.com'],
        allowedHosts: ['gateway.example.com'],
        allowTailscale: true,
      },
      limits: { maxConnections: 10, maxConnectionsPerAddress: 3 },
    },
  }),
  ['127.0.0.1', '::1', '192.168.1.20'],
);

function counts(total = 0, perAddress: Record<string, number> = {}): ConnectionCounts {
  return { total: () => total, forAddress: (a) => perAddress[a] ?? 0 };
}

function admit(
  headers: IncomingHttpHeaders,
  remoteAddress = '127.0.0.1',
  opts: {
    policy?: AdmissionPolicy;
    connections?: ConnectionCounts;
    limiter?: FailedAttemptLimiter;
    now?: number;
  } = {},
) {
  return admitUpgrade(
    { headers: { host: '127.0.0.1:18789', ...headers }, remoteAddress },
    {
      policy: opts.policy ?? policy,
      connections: opts.connections ?? counts(),
      limiter: opts.limiter ?? new FailedAttemptLimiter(),
      now: opts.now ?? 0,
    },
  );
}

describe('Origin (cross-site WebSocket hijacking)', () => {
  it('accepts requests without Origin (CLI, native clients)', () => {
    expect(admit({})).toMatchObject({ ok: true, isLoopback: true });
  });

  it('refuses a disallowed origin with 403, naming the setting', () => {
    const decision = admit({ origin: 'https://evil.example' });
    expect(decision).toMatchObject({ ok: false, status: 403 });
    if (!decision.ok) expect(decision.reason).toContain('gateway.auth.allowedOrigins');
  });

  it('refuses the literal null origin even though it "matches" nothing', () => {
    expect(admit({ origin: 'null' })).toMatchObject({ ok: false, status: 403 });
    expect(admit({ origin: 'not a url' })).toMatchObject({ ok: false, status: 403 });
  });

  it('accepts an allowlisted origin, compared case-insensitively', () => {
    expect(admit({ origin: 'https://dashboard.example.com' }).ok).toBe(true);
    expect(admit({ origin: 'https://dashboard.example.com:444' }).ok).toBe(false);
    expect(admit({ origin: 'http://dashboard.example.com' }).ok).toBe(false);
  });

  it('accepts a same-origin page served under an accepted Host', () => {
    expect(admit({ origin: 'http://127.0.0.1:18789' }).ok).toBe(true);
    expect(admit({ origin: 'http://127.0.0.1:9999' }).ok).toBe(false);
  });
});

describe('Host (DNS rebinding)', () => {
  it.each([
    ['127.0.0.1:18789', true],
    ['localhost:18789', true],
    ['LOCALHOST', true],
    ['[::1]:18789', true],
    ['192.168.1.20:18789', true],
    ['gateway.example.com', true],
    ['evil.example:18789', false],
    ['10.0.0.9:18789', false],
  ])('Host %s → accepted %s', (host, accepted) => {
    const decision = admit({ host });
    expect(decision.ok).toBe(accepted);
    if (!decision.ok) expect(decision.status).toBe(421);
  });

  it('a rebound page is refused even though it claims to be same-origin', () => {
    expect(
      admit({ host: 'evil.example:18789', origin: 'http://evil.example:18789' }),
    ).toMatchObject({ status: 421 });
  });

  it('a missing or malformed Host is a 400', () => {
    expect(admit({ host: '' })).toMatchObject({ ok: false, status: 400 });
    expect(admit({ host: 'a b' })).toMatchObject({ ok: false, status: 400 });
  });

  it('a wildcard bind accepts any address literal but still no foreign names', () => {
    const lan = { ...policy, boundHosts: ['0.0.0.0', '::'] };
    expect(admit({ host: '10.0.0.9:18789' }, '10.0.0.2', { policy: lan }).ok).toBe(true);
    expect(admit({ host: '[fd00::9]:18789' }, '10.0.0.2', { policy: lan }).ok).toBe(true);
    expect(admit({ host: 'evil.example' }, '10.0.0.2', { policy: lan }).ok).toBe(false);
  });
});

describe('rate-limit lockout and connection caps', () => {
  it('a locked-out address gets 429 with Retry-After', () => {
    const limiter = new FailedAttemptLimiter();
    const source = { address: '203.0.113.5', isLoopback: false, hasOrigin: false };
    for (let i = 0; i < 10; i++) limiter.recordFailure(source, 0);
    const decision = admit({ host: '192.168.1.20' }, '203.0.113.5', { limiter, now: 60_500 });
    expect(decision).toMatchObject({ ok: false, status: 429, headers: { 'Retry-After': '240' } });
    expect(admit({ host: '192.168.1.20' }, '203.0.113.6', { limiter, now: 60_500 }).ok).toBe(true);
  });

  it('loopback CLI is exempt from lockout, a loopback browser page is not', () => {
    const limiter = new FailedAttemptLimiter();
    const browser = { address: '127.0.0.1', isLoopback: true, hasOrigin: true };
    for (let i = 0; i < 10; i++) limiter.recordFailure(browser, 0);
    expect(admit({}, '127.0.0.1', { limiter }).ok).toBe(true);
    expect(admit({ origin: 'http://127.0.0.1:18789' }, '127.0.0.1', { limiter })).toMatchObject({
      status: 429,
    });
  });

  it('per-address cap → 429, global cap → 503', () => {
    expect(admit({}, '127.0.0.1', { connections: counts(3, { '127.0.0.1': 3 }) })).toMatchObject({
      status: 429,
    });
    expect(admit({}, '127.0.0.2', { connections: counts(10, { '127.0.0.1': 3 }) })).toMatchObject({
      status: 503,
    });
    expect(admit({}, '::ffff:127.0.0.2', { connections: counts(9, { '127.0.0.2': 2 }) }).ok).toBe(
      true,
    );
  });

  it('row 28: IPv6 peers share the per-address cap by their /64, as the lockout keys them', () => {
    const full = counts(3, { '2001:db8:1:2::/64': 3 });
    const lan = { ...policy, boundHosts: ['::'] };
    for (const peer of ['2001:db8:1:2::a', '2001:db8:1:2:ffff:ffff:ffff:fffe']) {
      expect(
        admit({ host: '[2001:db8::1]' }, peer, { connections: full, policy: lan }),
      ).toMatchObject({ status: 429 });
    }
    const other = admit({ host: '[2001:db8::1]' }, '2001:db8:1:3::a', {
      connections: full,
      policy: lan,
    });
    expect(other).toMatchObject({ ok: true, addressKey: '2001:db8:1:3::/64' });
  });
});

describe('Tailscale identity headers', () => {
  const tsHeaders = {
    'tailscale-user-login': 'alice@example.com',
    'tailscale-user-name': 'Alice',
    'x-forwarded-for': '100.101.102.103',
    'x-forwarded-proto': 'https',
    'x-forwarded-host': 'box.tail1234.ts.net',
    host: 'box.tail1234.ts.net',
  };

  it('are passed on (as a claim for whois to confirm) from a loopback peer when allowTailscale is on, and lose the loopback exemption', () => {
    const decision = admit(tsHeaders, '127.0.0.1');
    expect(decision).toMatchObject({
      ok: true,
      tailscaleIdentity: {
        login: 'alice@example.com',
        name: 'Alice',
        clientAddress: '100.101.102.103',
      },
      attemptSource: { isLoopback: true, hasOrigin: true },
    });
  });

  it("are ignored without all three of Serve's forwarding headers", () => {
    for (const missing of ['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host']) {
      const headers: Record<string, string> = { ...tsHeaders, host: '127.0.0.1' };
      delete headers[missing];
      expect(admit(headers, '127.0.0.1'), missing).toMatchObject({
        ok: true,
        tailscaleIdentity: undefined,
      });
    }
  });

  it('are ignored from any other peer', () => {
    const lan = { ...policy, boundHosts: ['0.0.0.0'] };
    const decision = admit({ ...tsHeaders, host: '192.168.1.20' }, '192.168.1.77', { policy: lan });
    expect(decision).toMatchObject({ ok: true, tailscaleIdentity: undefined });
    // ...and a ts.net Host from a non-loopback peer is just an unknown name.
    expect(admit(tsHeaders, '192.168.1.77', { policy: lan }).ok).toBe(false);
  });

  it('are ignored when allowTailscale is off', () => {
    const off = { ...policy, allowTailscale: false };
    expect(admit({ ...tsHeaders, host: '127.0.0.1' }, '127.0.0.1', { policy: off })).toMatchObject({
      ok: true,
      tailscaleIdentity: undefined,
    });
  });
});

describe('what each refusal says', () => {
  it('names the problem in every refusal, with Retry-After where waiting helps', () => {
    expect(admit({ host: '' })).toEqual({
      ok: false,
      status: 400,
      reason: 'missing or malformed Host header',
    });
    expect(admit({ host: undefined })).toMatchObject({ ok: false, status: 400 });
    expect(admit({ host: 'evil.example' })).toEqual({
      ok: false,
      status: 421,
      reason:
        'Host "evil.example" is not this gateway: add it to gateway.auth.allowedHosts if it is a name you use to reach it',
    });
    expect(admit({ origin: 'null' })).toEqual({
      ok: false,
      status: 403,
      reason: 'Origin "null" (sandboxed or file page) may not open a gateway socket',
    });
    const long = `https://${'a'.repeat(300)}.example`;
    expect(admit({ origin: long })).toEqual({
      ok: false,
      status: 403,
      reason: `Origin "${long.slice(0, 200)}" is not allowed: add it to gateway.auth.allowedOrigins to let that page connect`,
    });
    const limiter = new FailedAttemptLimiter();
    const source = { address: '203.0.113.5', isLoopback: false, hasOrigin: false };
    for (let i = 0; i < 10; i++) limiter.recordFailure(source, 0);
    expect(admit({ host: '192.168.1.20' }, '203.0.113.5', { limiter, now: 60_500 })).toEqual({
      ok: false,
      status: 429,
      reason: 'too many failed authentication attempts from this address: retry in 240 s',
      headers: { 'Retry-After': '240' },
    });
    expect(admit({}, '127.0.0.1', { connections: counts(3, { '127.0.0.1': 3 }) })).toEqual({
      ok: false,
      status: 429,
      reason: 'too many connections from this address (limit 3)',
      headers: { 'Retry-After': '1' },
    });
    expect(admit({}, '127.0.0.2', { connections: counts(10) })).toEqual({
      ok: false,
      status: 503,
      reason: 'gateway is at its connection limit (10)',
      headers: { 'Retry-After': '1' },
    });
  });

  it('refuses an opaque origin (file:, data:) like the literal null', () => {
    expect(admit({ origin: 'file:///etc/passwd' })).toMatchObject({ ok: false, status: 403 });
    expect(normaliseOrigin('file:///etc/passwd')).toBeUndefined();
    expect(normaliseOrigin('null')).toBeUndefined();
    expect(normaliseOrigin('no origin at all')).toBeUndefined();
    expect(normaliseOrigin('HTTPS://Dash.Example.com:443/path?q')).toBe('https://dash.example.com');
  });
});

describe('Host and address forms', () => {
  it('accepts *.localhost, a same-origin page under a name, and a Host with surrounding spaces', () => {
    expect(admit({ host: 'app.localhost:18789' }).ok).toBe(true);
    expect(admit({ host: 'localhost.evil.example' }).ok).toBe(false);
    expect(admit({ host: 'localhost:18789', origin: 'http://localhost:18789' }).ok).toBe(true);
    expect(admit({ host: ' 127.0.0.1:18789 ' }).ok).toBe(true);
  });

  it('a bind list with one wildcard among others still accepts address literals', () => {
    const mixed = { ...policy, boundHosts: ['127.0.0.1', '0.0.0.0'] };
    expect(admit({ host: '10.1.2.3:18789' }, '10.1.2.9', { policy: mixed }).ok).toBe(true);
    expect(admit({ host: '10.1.2.3:18789' }, '10.1.2.9').ok).toBe(false);
  });

  it('reads an IPv4-mapped IPv6 peer as its IPv4 address, and leaves other IPv6 alone', () => {
    expect(admit({}, '::FFFF:203.0.113.7')).toMatchObject({
      ok: true,
      remoteAddress: '203.0.113.7',
      addressKey: '203.0.113.7',
      isLoopback: false,
    });
    expect(admit({}, '::ffff:127.0.0.1')).toMatchObject({
      remoteAddress: '127.0.0.1',
      isLoopback: true,
    });
    expect(admit({}, 'fd00::ffff:1.2.3.4')).toMatchObject({ remoteAddress: 'fd00::ffff:1.2.3.4' });
    expect(admit({}, '::ffff:abcd')).toMatchObject({ remoteAddress: '::ffff:abcd' });
    expect(admit({}, '::abcd:1.2.3.4')).toMatchObject({ remoteAddress: '::abcd:1.2.3.4' });
    expect(admit({ host: '[::ffff:127.0.0.1]:18789' }).ok).toBe(true);
  });

  it('judges a socket already gone (no remote address) as a non-loopback peer', () => {
    const decision = admitUpgrade(
      { headers: { host: '127.0.0.1:18789' }, remoteAddress: undefined },
      { policy, connections: counts(), limiter: new FailedAttemptLimiter(), now: 0 },
    );
    expect(decision).toMatchObject({
      ok: true,
      remoteAddress: '',
      isLoopback: false,
    });
  });

  it('a request relayed onto loopback (X-Forwarded-For) loses the loopback exemption', () => {
    const relayed = admit({ 'x-forwarded-for': '198.51.100.4' }, '127.0.0.1');
    expect(relayed).toMatchObject({
      ok: true,
      attemptSource: { isLoopback: true, hasOrigin: true },
    });
    expect(admit({}, '127.0.0.1')).toMatchObject({ attemptSource: { hasOrigin: false } });
  });
});

describe('Tailscale Serve claims in detail', () => {
  const serve = {
    'x-forwarded-for': ' 100.101.102.103 ',
    'x-forwarded-proto': 'https',
    'x-forwarded-host': 'box.tail1234.ts.net',
    host: 'box.tail1234.ts.net',
  };

  it('takes the login, address and picture, trimmed', () => {
    const decision = admit(
      {
        ...serve,
        'tailscale-user-login': ' alice@example.com ',
        'tailscale-user-profile-pic': 'https://pics.example/alice.png',
      },
      '127.0.0.1',
    );
    expect(decision).toMatchObject({
      ok: true,
      tailscaleIdentity: {
        login: 'alice@example.com',
        clientAddress: '100.101.102.103',
        name: undefined,
        profilePicture: 'https://pics.example/alice.png',
      },
    });
  });

  it('makes no identity of a blank login or a blank forwarded address', () => {
    const blankLogin = admit({ ...serve, 'tailscale-user-login': '   ' }, '127.0.0.1');
    expect(blankLogin).toMatchObject({ ok: true, tailscaleIdentity: undefined });
    const blankAddress = admit(
      { ...serve, 'x-forwarded-for': '  ', 'tailscale-user-login': 'alice@example.com' },
      '127.0.0.1',
    );
    expect(blankAddress).toMatchObject({ ok: true, tailscaleIdentity: undefined });
  });

  it('accepts a ts.net Host only with a login claim, and never another name', () => {
    expect(admit(serve, '127.0.0.1')).toMatchObject({ ok: false, status: 421 });
    const withLogin = { ...serve, 'tailscale-user-login': 'alice@example.com' };
    expect(admit(withLogin, '127.0.0.1').ok).toBe(true);
    expect(admit({ ...withLogin, host: 'evil.example' }, '127.0.0.1')).toMatchObject({
      ok: false,
      status: 421,
    });
  });
});

describe('writeUpgradeRefusal', () => {
  it('writes a plain HTTP answer with the reason and headers, then destroys the socket', () => {
    let written = '';
    const socket = {
      writable: true,
      end: vi.fn((text: string, done: () => void) => {
        written = text;
        done();
      }),
      destroy: vi.fn(),
    };
    writeUpgradeRefusal(socket as never, {
      ok: false,
      status: 429,
      reason: 'slow down',
      headers: { 'Retry-After': '7' },
    });
    expect(written).toBe(
      'HTTP/1.1 429 Too Many Requests\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 10\r\nRetry-After: 7\r\n\r\nslow down\n',
    );
    expect(socket.destroy).toHaveBeenCalledTimes(1);
  });

  it('only destroys a socket that can no longer be written', () => {
    const socket = { writable: false, end: vi.fn(), destroy: vi.fn() };
    writeUpgradeRefusal(socket as never, { ok: false, status: 503, reason: 'busy' });
    expect(socket.end).not.toHaveBeenCalled();
    expect(socket.destroy).toHaveBeenCalledTimes(1);
  });
});

describe('over the real wire', () => {
  let close: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await close?.();
    close = undefined;
  });

  it('an evil origin gets 403 before the upgrade; a CLI client connects', async () => {
    const wss = new WebSocketServer({ noServer: true });
    let upgraded = 0;
    const server = createServer();
    server.on('upgrade', (req, socket, head) => {
      const decision = admitUpgrade(
        { headers: req.headers, remoteAddress: req.socket.remoteAddress },
        { policy, connections: counts(), limiter: new FailedAttemptLimiter(), now: Date.now() },
      );
      if (!decision.ok) return writeUpgradeRefusal(socket, decision);
      wss.handleUpgrade(req, socket, head, (ws) => {
        upgraded++;
        ws.close();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    close = () => new Promise((resolve) => server.close(() => resolve()));
    const url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}`;

    const refused = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const ws = new WebSocket(url, { origin: 'https://evil.example' });
      ws.on('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (c: Buffer) => {
          body += c.toString();
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      ws.on('open', () => reject(new Error('evil origin was upgraded')));
    });
    expect(refused.status).toBe(403);
    expect(refused.body).toContain('https://evil.example');

    const nullOrigin = await new Promise<number>((resolve) => {
      const ws = new WebSocket(url, { origin: 'null' });
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    });
    expect(nullOrigin).toBe(403);

    await new Promise<void>((resolve, reject) => {
      const ws = new WebSocket(url);
      ws.on('open', () => resolve());
      ws.on('error', reject);
    });
    expect(upgraded).toBe(1);
  });
});
