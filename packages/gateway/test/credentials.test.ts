import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, readlink, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LoopgateConfig, type LoopgateConfigInput } from '@loopgate/protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  digestSecret,
  type GatewayCredential,
  newSecretToken,
  OperatorTokens,
  resolveCredential,
  resolveOperatorAccess,
  rotateGeneratedToken,
  secretMatches,
  TOKEN_FILE_NAME,
} from '../src/auth/index.js';

/**
 * The gateway's own credential (configured token or password, else a
 * generated token in a 0600 file) and who a connection's params make it
 * (`resolveOperatorAccess`), on their own. Over the wire the same paths are
 * walked by packages/tests (hardening/auth, operator-tokens).
 */
let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'loopgate-credentials-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const config = (auth: NonNullable<LoopgateConfigInput['gateway']>['auth']) =>
  LoopgateConfig.parse({ gateway: { auth } });
const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest();

describe('secrets', () => {
  it('digests with SHA-256 and matches only the same secret', () => {
    expect(digestSecret('pässword').equals(sha256('pässword'))).toBe(true);
    const digest = digestSecret('the-secret');
    expect(secretMatches('the-secret', digest)).toBe(true);
    expect(secretMatches('the-secreT', digest)).toBe(false);
    expect(secretMatches('the-secret-and-more', digest)).toBe(false);
    expect(secretMatches('', digest)).toBe(false);
    expect(secretMatches(undefined, digest)).toBe(false);
  });

  it('makes new tokens of 32 random bytes, base64url', () => {
    const a = newSecretToken();
    expect(a).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(a, 'base64url')).toHaveLength(32);
    expect(newSecretToken()).not.toBe(a);
  });
});

describe('resolveCredential', () => {
  it('takes a configured password (mode password, or a password alone), from config or env', async () => {
    const byMode = await resolveCredential(
      config({ mode: 'password', password: 'a-password' }),
      dir,
    );
    expect(byMode).toEqual({
      mode: 'password',
      digest: sha256('a-password'),
      source: 'config',
      tokenPath: undefined,
    });
    const alone = await resolveCredential(config({ password: 'a-password' }), dir, {
      password: 'env',
    });
    expect(alone).toMatchObject({ mode: 'password', source: 'env' });
    const flag = await resolveCredential(config({ password: 'a-password' }), dir, {
      password: 'flag',
    });
    expect(flag.source).toBe('config');
  });

  it('refuses mode password without a password, naming the settings', async () => {
    await expect(resolveCredential(config({ mode: 'password' }), dir)).rejects.toThrow(
      'gateway.auth.mode is "password" but no gateway.auth.password (or LOOPGATE_GATEWAY_PASSWORD) is set',
    );
  });

  it('takes a configured token, also over a password when the mode is not said', async () => {
    const token = await resolveCredential(
      config({ token: 'a-configured-token', password: 'a-password' }),
      dir,
      {
        token: 'env',
      },
    );
    expect(token).toEqual({
      mode: 'token',
      digest: sha256('a-configured-token'),
      source: 'env',
      tokenPath: undefined,
    });
    const fromConfig = await resolveCredential(
      config({ mode: 'token', token: 'a-configured-token' }),
      dir,
    );
    expect(fromConfig.source).toBe('config');
    expect(fromConfig.mode).toBe('token');
  });

  it('generates a token once into a 0600 file and reads it back after', async () => {
    const first = await resolveCredential(config({}), dir);
    const path = join(dir, TOKEN_FILE_NAME);
    expect(first).toMatchObject({ mode: 'token', source: 'generated', tokenPath: path });
    const text = await readFile(path, 'utf8');
    expect(text).toMatch(/^[A-Za-z0-9_-]{43}\n$/);
    expect(first.digest.equals(sha256(text.trim()))).toBe(true);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    const again = await resolveCredential(config({}), dir);
    expect(again.digest.equals(first.digest)).toBe(true);
  });

  it('keeps a hand-written token of 16 characters or more (trimmed), replaces a shorter one', async () => {
    const path = join(dir, TOKEN_FILE_NAME);
    await writeFile(path, '  sixteen-chars-ok  \n');
    const kept = await resolveCredential(config({}), dir);
    expect(kept.digest.equals(sha256('sixteen-chars-ok'))).toBe(true);
    await writeFile(path, '123456789012345\n');
    const replaced = await resolveCredential(config({}), dir);
    expect(replaced.digest.equals(sha256('123456789012345'))).toBe(false);
    expect((await readFile(path, 'utf8')).trim()).toHaveLength(43);
  });

  it('refuses to start on a token file it cannot read, instead of replacing it', async () => {
    await mkdir(join(dir, TOKEN_FILE_NAME));
    await expect(resolveCredential(config({}), dir)).rejects.toMatchObject({ code: 'EISDIR' });
    await rm(join(dir, TOKEN_FILE_NAME), { recursive: true });
    // A link to itself: reading fails with ELOOP, and the link must be left as it is.
    await symlink(TOKEN_FILE_NAME, join(dir, TOKEN_FILE_NAME));
    await expect(resolveCredential(config({}), dir)).rejects.toMatchObject({ code: 'ELOOP' });
    expect(await readlink(join(dir, TOKEN_FILE_NAME))).toBe(TOKEN_FILE_NAME);
  });

  it('mode token means a token even when a password is also configured', async () => {
    const credential = await resolveCredential(
      config({ mode: 'token', password: 'a-password' }),
      dir,
    );
    expect(credential).toMatchObject({ mode: 'token', source: 'generated' });
  });

  it('rotates the generated token: a new secret in the same 0600 file', async () => {
    const before = await resolveCredential(config({}), dir);
    const after = await rotateGeneratedToken(dir);
    const path = join(dir, TOKEN_FILE_NAME);
    expect(after).toMatchObject({ mode: 'token', source: 'generated', tokenPath: path });
    expect(after.digest.equals(before.digest)).toBe(false);
    const text = await readFile(path, 'utf8');
    expect(text.endsWith('\n')).toBe(true);
    expect(after.digest.equals(sha256(text.trim()))).toBe(true);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
  });
});

describe('resolveOperatorAccess', () => {
  const tokenCredential: GatewayCredential = {
    mode: 'token',
    digest: digestSecret('gateway-token-value'),
    source: 'config',
    tokenPath: undefined,
  };
  const passwordCredential: GatewayCredential = { ...tokenCredential, mode: 'password' };
  let tokens: OperatorTokens;
  beforeEach(() => {
    tokens = new OperatorTokens({
      path: join(dir, 'operator-tokens.json'),
      connections: { all: () => [] },
      events: { emit: () => {} },
    });
  });

  it("makes the gateway's own token or password operator.admin", () => {
    expect(
      resolveOperatorAccess({ token: 'gateway-token-value' }, tokenCredential, tokens, 0),
    ).toEqual({
      ok: true,
      access: {
        principal: 'operator.admin',
        credential: 'gateway-token',
        name: undefined,
        expiresAt: undefined,
      },
    });
    expect(
      resolveOperatorAccess({ password: 'gateway-token-value' }, passwordCredential, tokens, 0),
    ).toEqual({
      ok: true,
      access: {
        principal: 'operator.admin',
        credential: 'gateway-password',
        name: undefined,
        expiresAt: undefined,
      },
    });
    // The password is not accepted in the token field, nor the token in the password field.
    expect(
      resolveOperatorAccess({ token: 'gateway-token-value' }, passwordCredential, tokens, 0),
    ).toEqual({ ok: false, failure: 'invalid token' });
    expect(
      resolveOperatorAccess({ password: 'gateway-token-value' }, tokenCredential, tokens, 0),
    ).toMatchObject({ ok: false, failure: expect.stringMatching(/^missing token: /) });
  });

  it('gives a named token its scope, name and expiry, and names an expired one', async () => {
    const { token } = await tokens.create(
      { name: 'ci', scope: 'operator.read', expiresInMs: 1_000 },
      10_000,
    );
    expect(resolveOperatorAccess({ token }, tokenCredential, tokens, 10_500)).toEqual({
      ok: true,
      access: {
        principal: 'operator.read',
        credential: 'operator-token',
        name: 'ci',
        expiresAt: 11_000,
      },
    });
    expect(resolveOperatorAccess({ token }, tokenCredential, tokens, 11_000)).toEqual({
      ok: false,
      failure: `the operator token "ci" expired at ${new Date(11_000).toISOString()}`,
    });
    // A named token works in password mode too (it is not the gateway's own secret).
    expect(resolveOperatorAccess({ token }, passwordCredential, tokens, 10_500)).toMatchObject({
      ok: true,
      access: { name: 'ci' },
    });
  });

  it('says what is missing, per mode, and never echoes a wrong secret', () => {
    const missingToken = resolveOperatorAccess({}, tokenCredential, tokens, 0);
    expect(missingToken).toEqual({
      ok: false,
      failure:
        'missing token: the CLI takes --token (or --token-file, LOOPGATE_GATEWAY_TOKEN, gateway.remote.token in remote mode); a script passes it in connectionParams, never in the URL',
    });
    const missingPassword = resolveOperatorAccess({}, passwordCredential, tokens, 0);
    expect(missingPassword).toEqual({
      ok: false,
      failure:
        'missing password: the CLI takes --password (or --password-file, LOOPGATE_GATEWAY_PASSWORD, gateway.remote.password in remote mode); a script passes it in connectionParams, never in the URL',
    });
    expect(resolveOperatorAccess({ token: 'guess-1' }, tokenCredential, tokens, 0)).toEqual({
      ok: false,
      failure: 'invalid token',
    });
    expect(resolveOperatorAccess({ password: 'guess-2' }, passwordCredential, tokens, 0)).toEqual({
      ok: false,
      failure: 'invalid password',
    });
  });
});
