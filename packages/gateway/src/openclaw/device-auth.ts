import { createHash, createPublicKey, verify } from 'node:crypto';
import { OpenClawError } from './errors.js';
import type { ConnectParams, DeviceIdentity } from './frames.js';

/** What this socket's `connect.challenge` carried. */
export type Challenge = { nonce: string; ts: number };

/**
 * Checks an OpenClaw device identity against this socket's challenge, as its
 * auth docs describe (docs/gateway/protocol/auth.md): the id is the SHA-256
 * (hex) of the raw Ed25519 key, the nonce and `signedAt` are the challenge's,
 * and the signature covers the `v3` payload (or the legacy `v2`). Returns the
 * key (raw, base64url: the same form a Loopgate node key has) or throws the
 * `DEVICE_AUTH_*` refusal its clients branch on.
 */
export function verifyDevice(
  device: DeviceIdentity,
  params: Pick<ConnectParams, 'client' | 'role' | 'scopes' | 'auth'>,
  challenge: Challenge,
): string {
  const raw = Buffer.from(device.publicKey, 'base64url');
  if (raw.length !== 32 || raw.toString('base64url') !== device.publicKey) {
    throw refuse('DEVICE_AUTH_PUBLIC_KEY_INVALID', 'device public key invalid');
  }
  if (createHash('sha256').update(raw).digest('hex') !== device.id) {
    throw refuse('DEVICE_AUTH_DEVICE_ID_MISMATCH', 'device identity mismatch');
  }
  if (device.nonce !== challenge.nonce) {
    throw refuse('DEVICE_AUTH_NONCE_MISMATCH', 'device nonce mismatch');
  }
  // Signed at the challenge's own time: a signature is good for this socket only.
  if (device.signedAt !== challenge.ts) {
    throw refuse('DEVICE_AUTH_SIGNATURE_EXPIRED', 'device signature expired');
  }
  let key: ReturnType<typeof createPublicKey>;
  try {
    key = createPublicKey({
      key: { kty: 'OKP', crv: 'Ed25519', x: device.publicKey },
      format: 'jwk',
    });
  } catch {
    // Not a point on the curve.
    throw refuse('DEVICE_AUTH_PUBLIC_KEY_INVALID', 'device public key invalid');
  }
  const signature = Buffer.from(device.signature, 'base64url');
  const signed = signedPayloads(device, params).some((payload) =>
    verify(null, Buffer.from(payload, 'utf8'), key, signature),
  );
  if (!signed) throw refuse('DEVICE_AUTH_SIGNATURE_INVALID', 'device signature invalid');
  return device.publicKey;
}

/** The `v3` payload (binds platform and device family) and the legacy `v2` one, in that order. */
function signedPayloads(
  device: DeviceIdentity,
  params: Pick<ConnectParams, 'client' | 'role' | 'scopes' | 'auth'>,
): string[] {
  const token = params.auth?.token ?? params.auth?.deviceToken ?? params.auth?.bootstrapToken ?? '';
  const common = [
    device.id,
    params.client.id,
    params.client.mode,
    params.role,
    params.scopes.join(','),
    String(device.signedAt),
    token,
    device.nonce,
  ];
  return [
    [
      'v3',
      ...common,
      lowerAscii(params.client.platform),
      lowerAscii(params.client.deviceFamily),
    ].join('|'),
    ['v2', ...common].join('|'),
  ];
}

/** Trimmed, A-Z folded to a-z and nothing else (what the v3 payload binds). */
function lowerAscii(value: string | undefined): string {
  return (value ?? '').trim().replace(/[A-Z]/g, (c) => c.toLowerCase());
}

function refuse(code: string, message: string): OpenClawError {
  return new OpenClawError('INVALID_REQUEST', message, { code, loopgateCode: 'UNAUTHORIZED' });
}
