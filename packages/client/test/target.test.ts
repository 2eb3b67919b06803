import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GatewayError } from '@loopgate/protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { resolveGatewayTarget } from '../src/target.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'loopgate-target-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** An environment that points only at the temp dir (never the real ~/.loopgate). */
const envWith = (extra: Record<string, string> = {}) => ({ LOOPGATE_STATE_DIR: dir, ...extra });

function thrown(fn: () => unknown): GatewayError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(GatewayError);
    return error as GatewayError;
  }
  throw new Error('expected a throw');
}

describe('resolveGatewayTarget', () => {
  it('defaults to the loopback gateway and no credential', () => {
    expect(resolveGatewayTarget({ env: envWith() })).toEqual({
      url: 'ws://127.0.0.1:18789',
      mode: 'local',
      source: { url: 'default' },
    });
  });

  it('reads the local gateway token file from the state dir, trimmed', async () => {
    await writeFile(join(dir, 'gateway-token'), '  s3cret-token-value\n', { mode: 0o600 });
    const target = resolveGatewayTarget({ env: envWith() });
    expect(target.token).toBe('s3cret-token-value');
    expect(target.source.token).toBe('state-file');
  });

  it('takes gateway.port (and tls) from the config file', async () => {
    await writeFile(
      join(dir, 'config.json5'),
      '{ gateway: { port: 19999, tls: { enabled: true } } }',
    );
    expect(resolveGatewayTarget({ env: envWith() })).toMatchObject({
      url: 'wss://127.0.0.1:19999',
      source: { url: 'config' },
    });
  });

  it('uses gateway.remote.* in remote mode, and never the local token file there', async () => {
    await writeFile(join(dir, 'gateway-token'), 'local-token-not-for-remote');
    await writeFile(
      join(dir, 'config.json5'),
      `{ gateway: { mode: 'remote', remote: { url: 'wss://gw.example:443', token: 'remote-token', tlsFingerprint: 'AA:BB' } } }`,
    );
    expect(resolveGatewayTarget({ env: envWith() })).toEqual({
      url: 'wss://gw.example:443',
      token: 'remote-token',
      mode: 'remote',
      tlsFingerprint: 'AA:BB',
      source: { url: 'config', token: 'config' },
    });
  });

  it('reads gateway.remote.tokenFile (relative to the config) and passwordEnv, inline values first', async () => {
    await writeFile(join(dir, 'remote.token'), 'token-from-file\n', { mode: 0o600 });
    await writeFile(
      join(dir, 'config.json5'),
      `{ gateway: { mode: 'remote', remote: { url: 'ws://127.0.0.1:4000', tokenFile: 'remote.token', passwordEnv: 'MY_GW_PASSWORD' } } }`,
    );
    expect(resolveGatewayTarget({ env: envWith({ MY_GW_PASSWORD: 'pw-from-env' }) })).toMatchObject(
      {
        token: 'token-from-file',
        password: 'pw-from-env',
        source: { token: 'config', password: 'config' },
      },
    );
    await writeFile(
      join(dir, 'config.json5'),
      `{ gateway: { mode: 'remote', remote: { url: 'ws://127.0.0.1:4000', token: 'inline', tokenFile: 'missing.token' } } }`,
    );
    expect(resolveGatewayTarget({ env: envWith() }).token).toBe('inline');
    await writeFile(
      join(dir, 'config.json5'),
      `{ gateway: { mode: 'remote', remote: { url: 'ws://127.0.0.1:4000', tokenFile: 'missing.token' } } }`,
    );
    expect(thrown(() => resolveGatewayTarget({ env: envWith() })).message).toContain(
      'gateway.remote.tokenFile: cannot read',
    );
  });

  it('points at the local end of the SSH tunnel when remote mode has ssh but no url', async () => {
    await writeFile(
      join(dir, 'config.json5'),
      `{ gateway: { mode: 'remote', remote: { ssh: { target: 'me@box', localPort: 28789 } } } }`,
    );
    const target = resolveGatewayTarget({ env: envWith() });
    expect(target.url).toBe('ws://127.0.0.1:28789');
    expect(target.ssh).toMatchObject({ target: 'me@box', localPort: 28789 });
  });

  it('ranks option > env > config > default', async () => {
    await writeFile(
      join(dir, 'config.json5'),
      `{ gateway: { port: 19000, auth: { token: 'config-token-0123456789' } } }`,
    );
    const env = envWith({
      LOOPGATE_GATEWAY_URL: 'ws://127.0.0.1:19001',
      LOOPGATE_GATEWAY_TOKEN: 'env-token',
    });
    expect(resolveGatewayTarget({ env })).toMatchObject({
      url: 'ws://127.0.0.1:19001',
      token: 'env-token',
      source: { url: 'env', token: 'env' },
    });
    expect(
      resolveGatewayTarget({ env, url: 'ws://127.0.0.1:19002', token: 'flag-token' }),
    ).toMatchObject({
      url: 'ws://127.0.0.1:19002',
      token: 'flag-token',
      source: { url: 'option', token: 'option' },
    });
    expect(resolveGatewayTarget({ env: envWith() })).toMatchObject({
      url: 'ws://127.0.0.1:19000',
      token: 'config-token-0123456789',
      source: { url: 'config', token: 'config' },
    });
  });

  it('reads LOOPGATE_CONFIG and reports a bad file with the key path, without secrets', async () => {
    const path = join(dir, 'elsewhere.json5');
    await writeFile(path, `{ gateway: { port: 'many', auth: { token: 'short' } } }`);
    const error = thrown(() => resolveGatewayTarget({ env: envWith({ LOOPGATE_CONFIG: path }) }));
    expect(error.code).toBe('BAD_REQUEST');
    expect(error.message).toContain('gateway.port: expected integer 0-65535');
    expect(error.message).toContain(path);
    expect(error.message).toContain(
      'gateway.auth.token: expected at least 16 characters, got (hidden)',
    );
    expect(error.message).not.toContain('short');
  });

  it('refuses a config file that was named explicitly but does not exist', () => {
    const error = thrown(() =>
      resolveGatewayTarget({ env: envWith(), configPath: join(dir, 'nope.json5') }),
    );
    expect(error.message).toMatch(/file not found/);
  });

  it('requires a URL (or ssh) in remote mode', async () => {
    await writeFile(join(dir, 'config.json5'), `{ gateway: { mode: 'remote' } }`);
    expect(thrown(() => resolveGatewayTarget({ env: envWith() })).message).toMatch(
      /gateway\.remote\.url: required/,
    );
  });
});
