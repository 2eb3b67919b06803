import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { LoopgateConfig } from '@loopgate/protocol';
import { writeFileAtomic } from '../store/index.js';

export const TOKEN_FILE_NAME = 'gateway-token';

export type GatewayCredential = {
  mode: 'token' | 'password';
  /** SHA-256 of the secret; the secret itself is not kept in memory longer than needed. */
  digest: Buffer;
  /** Where it came from; `generated` never counts as an explicit choice for exposure. */
  source: 'config' | 'env' | 'generated';
  /** For `generated`: the 0600 file local clients read it from. */
  tokenPath: string | undefined;
};

export function digestSecret(secret: string): Buffer {
  return createHash('sha256').update(secret, 'utf8').digest();
}

/**
 * Compares a presented secret with the expected digest in constant time.
 * Hashing both sides first makes the comparison length-independent, so the
 * time taken says nothing about the secret's length or prefix.
 */
export function secretMatches(presented: string | undefined, expected: Buffer): boolean {
  if (presented === undefined) return false;
  return timingSafeEqual(digestSecret(presented), expected);
}

export function newSecretToken(): string {
  return randomBytes(32).toString('base64url');
}

/**
 * The gateway's operator credential: a configured password or token, else a
 * token generated on first run and stored in the state dir with mode 0600 so
 * local clients on the same host find it without any setup.
 */
export async function resolveCredential(
  config: LoopgateConfig,
  stateDir: string,
  explicit: {
    token?: 'config' | 'env' | 'flag' | undefined;
    password?: 'config' | 'env' | 'flag' | undefined;
  } = {},
): Promise<GatewayCredential> {
  const auth = config.gateway.auth;
  const wantsPassword =
    auth.mode === 'password' || (auth.mode === undefined && auth.password && !auth.token);
  if (wantsPassword) {
    if (!auth.password)
      throw new Error(
        'gateway.auth.mode is "password" but no gateway.auth.password (or LOOPGATE_GATEWAY_PASSWORD) is set',
      );
    return {
      mode: 'password',
      digest: digestSecret(auth.password),
      source: explicit.password === 'env' ? 'env' : 'config',
      tokenPath: undefined,
    };
  }
  if (auth.token) {
    return {
      mode: 'token',
      digest: digestSecret(auth.token),
      source: explicit.token === 'env' ? 'env' : 'config',
      tokenPath: undefined,
    };
  }
  const tokenPath = join(stateDir, TOKEN_FILE_NAME);
  const token = await readOrCreateToken(tokenPath);
  return { mode: 'token', digest: digestSecret(token), source: 'generated', tokenPath };
}

async function readOrCreateToken(path: string): Promise<string> {
  try {
    const existing = (await readFile(path, 'utf8')).trim();
    if (existing.length >= 16) return existing;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const token = newSecretToken();
  await writeFileAtomic(path, `${token}\n`, { mode: 0o600 });
  return token;
}

/** Replaces the generated token (rotate-token); returns the new credential. */
export async function rotateGeneratedToken(stateDir: string): Promise<GatewayCredential> {
  const tokenPath = join(stateDir, TOKEN_FILE_NAME);
  const token = newSecretToken();
  await writeFileAtomic(tokenPath, `${token}\n`, { mode: 0o600 });
  return { mode: 'token', digest: digestSecret(token), source: 'generated', tokenPath };
}
