import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GatewayError } from '@loopgate/protocol';
import { describe, expect, it } from 'vitest';
import {
  assertTransportAllowed,
  isLoopbackHost,
  parseFingerprint,
  parseFingerprints,
  parseGatewayUrl,
  savePinnedFingerprint,
  webSocketOptionsFor,
} from '../src/tls/index.js';

const hex = '5e8f16b0a1c2d3e4f5061728394a5b6c7d8e9fa0b1c2d3e4f5061728394a5b6c';
const canonical = hex.toUpperCase().replace(/(..)(?!$)/g, '$1:');
const base64 = Buffer.from(hex, 'hex').toString('base64');

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    if (error instanceof GatewayError) return error.code;
    throw error;
  }
  return 'no error';
}

describe('parseFingerprint', () => {
  it.each([
    ['AA:BB form', canonical],
    ['lowercase colon form', canonical.toLowerCase()],
    ['plain lowercase hex', hex],
    ['plain hex with spaces', hex.replace(/(.{8})/g, '$1 ')],
    ['sha256/hex', `sha256/${hex}`],
    ['SHA256:AA:BB', `SHA256:${canonical}`],
    ['sha256/base64', `sha256/${base64}`],
    ['sha256/base64 without padding', `sha256/${base64.replace(/=$/, '')}`],
    ['sha256/base64url', `sha256/${Buffer.from(hex, 'hex').toString('base64url')}`],
    ['surrounding whitespace', `  ${canonical}\n`],
  ])('accepts the %s', (_name, input) => {
    expect(parseFingerprint(input)).toBe(canonical);
  });

  it.each([
    ['too short', canonical.slice(0, -3)],
    ['not hex', `${canonical.slice(0, -2)}ZZ`],
    ['SHA-1 length', `${'AB:'.repeat(19)}AB`],
    ['base64 without the sha256/ prefix', base64],
    ['empty', ''],
  ])('rejects %s with BAD_REQUEST naming the expected forms', (_name, input) => {
    try {
      parseFingerprint(input);
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(GatewayError);
      expect((error as GatewayError).code).toBe('BAD_REQUEST');
      expect((error as GatewayError).message).toContain('sha256/');
    }
  });

  it('reads the sha256/ prefix only at the start, after trimming, and base64url with - and _', () => {
    expect(parseFingerprint(`  sha256/${base64}\n`)).toBe(canonical);
    expect(codeOf(() => parseFingerprint(`xsha256/${base64}`))).toBe('BAD_REQUEST');
    // 43 base64 characters with "sha256/" inside, not at the start: no prefix, so no base64 pin.
    expect(codeOf(() => parseFingerprint(`AAAAAAAsha256/${'A'.repeat(36)}`))).toBe('BAD_REQUEST');
    const ones = Buffer.alloc(32, 0xff);
    const onesCanonical = `${'FF:'.repeat(31)}FF`;
    expect(ones.toString('base64url')).toMatch(/_/);
    expect(parseFingerprint(`sha256/${ones.toString('base64url')}`)).toBe(onesCanonical);
    const dashes = Buffer.alloc(32, 0xfb);
    expect(dashes.toString('base64url')).toMatch(/-/);
    expect(parseFingerprint(`sha256/${dashes.toString('base64url')}`)).toBe(
      `${'FB:'.repeat(31)}FB`,
    );
  });

  it('quotes a bad pin in its error cut to 24 characters', () => {
    const long = `${'Z'.repeat(24)}TAIL`;
    const cut = (() => {
      try {
        parseFingerprint(long);
      } catch (error) {
        return (error as GatewayError).message;
      }
    })();
    expect(cut).toContain(`"${'Z'.repeat(24)}…"`);
    expect(cut).not.toContain('TAIL');
    const short = 'Y'.repeat(24);
    expect(codeOf(() => parseFingerprint(short))).toBe('BAD_REQUEST');
    try {
      parseFingerprint(short);
    } catch (error) {
      expect((error as GatewayError).message).toContain(`"${short}" is not`);
    }
  });

  it('takes a list or a comma-separated string for rotation, without duplicates', () => {
    const other = `${'AB:'.repeat(31)}AB`;
    expect(parseFingerprints([canonical, hex, other])).toEqual([canonical, other]);
    expect(parseFingerprints(`${hex}, ${other}`)).toEqual([canonical, other]);
    expect(codeOf(() => parseFingerprints([' , ']))).toBe('BAD_REQUEST');
    expect(() => parseFingerprints(' ,, ')).toThrow('TLS fingerprint setting is empty');
  });
});

describe('assertTransportAllowed', () => {
  it.each([
    'ws://127.0.0.1:18789',
    'ws://127.9.9.9:18789',
    'ws://localhost:18789',
    'ws://[::1]:18789',
    'http://localhost:18789',
    'wss://gateway.example.com',
    'wss://192.168.1.20:18789',
  ])('allows %s', (url) => {
    expect(() => assertTransportAllowed(url)).not.toThrow();
  });

  it.each([
    'ws://192.168.1.20:18789',
    'ws://10.0.0.5:18789',
    'ws://100.101.102.103:18789',
    'ws://box.tail1234.ts.net:18789',
    'ws://gateway.example.com',
    'ws://[fd00::1]:18789',
    'http://192.168.1.20:18789',
  ])('refuses plain %s unless insecurePlaintext', (url) => {
    try {
      assertTransportAllowed(url);
      expect.unreachable();
    } catch (error) {
      expect((error as GatewayError).code).toBe('FORBIDDEN');
      expect((error as GatewayError).message).toContain('--insecure-plaintext');
      expect((error as GatewayError).message).toContain('--ssh');
    }
    expect(() => assertTransportAllowed(url, { insecurePlaintext: true })).not.toThrow();
  });

  it('refuses bad URLs and credentials in URLs without echoing them', () => {
    expect(codeOf(() => parseGatewayUrl('not a url'))).toBe('BAD_REQUEST');
    expect(codeOf(() => parseGatewayUrl('ftp://x'))).toBe('BAD_REQUEST');
    try {
      parseGatewayUrl('wss://user:s3cret-token@gateway.example.com');
      expect.unreachable();
    } catch (error) {
      expect((error as GatewayError).message).not.toContain('s3cret');
    }
  });

  it('pins only wss:// and adds a connector only when pinned', () => {
    expect(
      codeOf(() => webSocketOptionsFor('ws://127.0.0.1:1', { tlsFingerprint: canonical })),
    ).toBe('BAD_REQUEST');
    expect(webSocketOptionsFor('wss://127.0.0.1:1')).toEqual({});
    expect(
      typeof webSocketOptionsFor('wss://127.0.0.1:1', { tlsFingerprint: hex }).createConnection,
    ).toBe('function');
    expect(codeOf(() => webSocketOptionsFor('wss://127.0.0.1:1', { tlsFingerprint: 'nope' }))).toBe(
      'BAD_REQUEST',
    );
  });

  it('knows loopback host names', () => {
    expect(isLoopbackHost('[::1]')).toBe(true);
    expect(isLoopbackHost('app.localhost')).toBe(true);
    expect(isLoopbackHost('::ffff:127.0.0.1')).toBe(true);
    expect(isLoopbackHost('localhost.example.com')).toBe(false);
  });
});

describe('savePinnedFingerprint', () => {
  it('stores the pin (and the url when unset) in a private file, keeping other settings', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'loopgate-pin-config-'));
    const configPath = join(dir, 'config.json5');
    await writeFile(
      configPath,
      "{ gateway: { port: 19000, remote: { url: 'wss://kept.example:443' } } }",
    );
    const { previous } = await savePinnedFingerprint({
      configPath,
      url: 'wss://other.example',
      fingerprint: hex,
    });
    expect(previous).toBeUndefined();
    const saved = JSON.parse(await readFile(configPath, 'utf8'));
    expect(saved).toEqual({
      gateway: {
        port: 19000,
        remote: { url: 'wss://kept.example:443', tlsFingerprint: canonical },
      },
    });
    expect((await stat(configPath)).mode & 0o777).toBe(0o600);
    await rm(dir, { recursive: true, force: true });
  });

  it('creates a missing file, and leaves a commented file alone with the lines to add', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'loopgate-pin-config-'));
    const fresh = join(dir, 'new', 'config.json5');
    await savePinnedFingerprint({ configPath: fresh, url: 'wss://gw.example', fingerprint: hex });
    expect(JSON.parse(await readFile(fresh, 'utf8'))).toEqual({
      gateway: { remote: { url: 'wss://gw.example', tlsFingerprint: canonical } },
    });

    const commented = join(dir, 'commented.json5');
    const original = '{\n  // my gateway\n  gateway: { port: 19000 },\n}\n';
    await writeFile(commented, original);
    await expect(
      savePinnedFingerprint({ configPath: commented, url: 'wss://gw.example', fingerprint: hex }),
    ).rejects.toMatchObject({
      code: 'CONFLICT',
      message: expect.stringContaining(`tlsFingerprint: "${canonical}"`),
    });
    expect(await readFile(commented, 'utf8')).toBe(original);
    await rm(dir, { recursive: true, force: true });
  });
});
