import { GatewayError } from '@loopgate/protocol';

/**
 * TLS certificate pins: SHA-256 of the server's DER certificate. Operators
 * copy them from different places, so every common spelling is accepted and
 * normalised to the one the gateway prints (`AA:BB:…`, 32 bytes):
 *   - `AA:BB:…` (the gateway's own output, `openssl x509 -fingerprint -sha256`)
 *   - 64 hex digits, any case, optionally with spaces
 *   - `sha256/<hex>` or `sha256/<base64>` (HPKP-like; base64 of the 32 bytes)
 * A list (or a comma-separated string) allows rotation: any pin may match.
 */

const HEX_64 = /^[0-9a-f]{64}$/i;
const BASE64_32_BYTES = /^[A-Za-z0-9+/]{43}=?$|^[A-Za-z0-9_-]{43}$/;

/** One pin in canonical `AA:BB:…` form; throws BAD_REQUEST naming what was wrong. */
export function parseFingerprint(input: string): string {
  const trimmed = input.trim();
  const prefixed = /^sha-?256[/:]/i.exec(trimmed);
  const body = prefixed ? trimmed.slice(prefixed[0].length) : trimmed;
  const hex = body.replace(/[:\s]/g, '');
  if (HEX_64.test(hex)) return formatFingerprint(Buffer.from(hex, 'hex'));
  if (prefixed && BASE64_32_BYTES.test(body)) {
    const bytes = Buffer.from(body.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
    if (bytes.length === 32) return formatFingerprint(bytes);
  }
  throw new GatewayError(
    'BAD_REQUEST',
    `TLS fingerprint "${preview(trimmed)}" is not a SHA-256 fingerprint: expected AA:BB:… (32 bytes), 64 hex digits, or sha256/<hex or base64>`,
  );
}

/** A pin setting (string, comma-separated string, or list) as canonical pins, duplicates removed. */
export function parseFingerprints(setting: string | readonly string[]): string[] {
  const items = (typeof setting === 'string' ? [setting] : setting)
    .flatMap((s) => s.split(','))
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (items.length === 0) throw new GatewayError('BAD_REQUEST', 'TLS fingerprint setting is empty');
  return [...new Set(items.map(parseFingerprint))];
}

/** 32 bytes as `AA:BB:…`. */
export function formatFingerprint(bytes: Uint8Array): string {
  return Buffer.from(bytes)
    .toString('hex')
    .toUpperCase()
    .replace(/(..)(?!$)/g, '$1:');
}

function preview(value: string): string {
  return value.length > 24 ? `${value.slice(0, 24)}…` : value;
}
