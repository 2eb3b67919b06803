import { chmod, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LoopgateConfig } from '@loopgate/protocol';
import JSON5 from 'json5';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  localGatewayUrl,
  readConnectionSettings,
  saveConnectionSettings,
  setJson5Member,
} from '../src/config-file/index.js';
import type { ConnectionSettings } from '../src/state/index.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'loopgate-dashboard-config-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const remote: ConnectionSettings = {
  mode: 'remote',
  url: 'wss://home.example:18789',
  ssh: { target: 'op@home', localPort: 18790 },
  tlsFingerprint: ['AA:BB'],
};

describe('setJson5Member', () => {
  it('replaces a nested member and leaves comments and layout alone', () => {
    const text = `// my gateway\n{\n  gateway: {\n    port: 18789, // the usual\n    mode: 'local',\n  },\n  /* agent */ agent: { provider: 'local' },\n}\n`;
    const out = setJson5Member(text, ['gateway', 'mode'], 'remote')!;
    expect(out).toBe(text.replace("mode: 'local'", "mode: 'remote'"));
  });

  it('inserts a member after the last one, past its trailing comment, adding a comma where needed', () => {
    const text = `{\n  gateway: {\n    port: 18789 // no comma here\n  }\n}`;
    const out = setJson5Member(text, ['gateway', 'remote'], { url: 'ws://x:1' })!;
    expect(out).toContain('port: 18789, // no comma here\n    remote: {');
    expect(JSON5.parse(out)).toEqual({ gateway: { port: 18789, remote: { url: 'ws://x:1' } } });
  });

  it('creates missing objects along the path, including in an empty file object', () => {
    expect(JSON5.parse(setJson5Member('{}', ['gateway', 'mode'], 'remote')!)).toEqual({
      gateway: { mode: 'remote' },
    });
    const text = `{\n  "logging": { "level": "info" }\n}\n`;
    expect(JSON5.parse(setJson5Member(text, ['gateway', 'mode'], 'remote')!)).toEqual({
      logging: { level: 'info' },
      gateway: { mode: 'remote' },
    });
  });

  it('handles quoted keys and strings with braces and comment markers inside', () => {
    const text = `{ "gateway": { "auth": { "token": "a}b//c/*d" }, 'mode': "local" } }`;
    const out = setJson5Member(text, ['gateway', 'mode'], 'remote')!;
    expect(JSON5.parse(out)).toEqual({ gateway: { auth: { token: 'a}b//c/*d' }, mode: 'remote' } });
  });

  it('gives up (for a full rewrite) on text that is not an object', () => {
    expect(setJson5Member('[1, 2]', ['gateway'], {})).toBeUndefined();
    expect(setJson5Member('{ gateway: ', ['gateway', 'mode'], 'x')).toBeUndefined();
  });
});

describe('the config file', () => {
  it('row 68: a config file other users may write (mode 0666) gives no connection settings: refused naming it and the chmod', async () => {
    const path = join(dir, 'config.json5');
    const planted = {
      gateway: {
        mode: 'remote',
        remote: { url: 'ws://intruder.example:1', tokenFile: '~/.ssh/id_ed25519' },
      },
    };
    await writeFile(path, JSON.stringify(planted), { mode: 0o600 });
    await chmod(path, 0o666);
    await expect(readConnectionSettings(path)).rejects.toThrow(
      `refusing to read ${path}: it is writable by other users (mode 0666)`,
    );
    await expect(readConnectionSettings(path)).rejects.toThrow(`chmod 600 ${path}`);
    // The same file kept to its owner is read as before.
    await chmod(path, 0o600);
    expect((await readConnectionSettings(path)).url).toBe('ws://intruder.example:1');
  });

  it('creates a missing file with mode 0600 holding only gateway.mode and gateway.remote', async () => {
    const path = join(dir, 'config.json5');
    const result = await saveConnectionSettings(path, remote);
    expect(result).toEqual({ path, commentsKept: true });
    const written = JSON5.parse(await readFile(path, 'utf8'));
    expect(written).toEqual({
      gateway: {
        mode: 'remote',
        remote: {
          url: 'wss://home.example:18789',
          ssh: { target: 'op@home', localPort: 18790 },
          tlsFingerprint: 'AA:BB',
        },
      },
    });
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(LoopgateConfig.safeParse(written).success).toBe(true);
    expect(await readConnectionSettings(path)).toEqual(remote);
  });

  it('keeps comments, every other key, the remote credentials and SSH keys it does not edit', async () => {
    const path = join(dir, 'config.json5');
    const original = `// Loopgate on my laptop
{
  gateway: {
    port: 18800, // not the default
    remote: {
      url: 'wss://old.example:1',
      token: 'remote-token-remote-token', // client credential
      ssh: { target: 'old@host', allowPortFallback: true, identityFile: '~/.ssh/old' },
    },
  },
  logging: { level: 'debug' },
}
`;
    await writeFile(path, original, { mode: 0o640 });
    const result = await saveConnectionSettings(path, remote);
    expect(result.commentsKept).toBe(true);
    const text = await readFile(path, 'utf8');
    expect(text).toContain('// Loopgate on my laptop');
    expect(text).toContain('port: 18800, // not the default');
    const parsed = JSON5.parse(text);
    expect(parsed.logging).toEqual({ level: 'debug' });
    expect(parsed.gateway.port).toBe(18800);
    expect(parsed.gateway.mode).toBe('remote');
    expect(parsed.gateway.remote).toEqual({
      token: 'remote-token-remote-token',
      url: 'wss://home.example:18789',
      ssh: { allowPortFallback: true, target: 'op@home', localPort: 18790 },
      tlsFingerprint: 'AA:BB',
    });
    // the file's permissions are the operator's
    expect((await stat(path)).mode & 0o777).toBe(0o640);
    // no temp file is left beside it
    expect(await readdir(dir)).toEqual(['config.json5']);
  });

  it('writes a credential as the reference the operator gave, replaces the old one, and clears it when emptied', async () => {
    const path = join(dir, 'config.json5');
    await writeFile(
      path,
      `{ gateway: { remote: { url: 'wss://old.example:1', token: 'old-inline-token' } } }`,
    );
    await saveConnectionSettings(path, { ...remote, token: { from: 'env', name: 'GW_TOKEN' } });
    expect(JSON5.parse(await readFile(path, 'utf8')).gateway.remote).toMatchObject({
      tokenEnv: 'GW_TOKEN',
    });
    expect(await readFile(path, 'utf8')).not.toContain('old-inline-token');
    const read = await readConnectionSettings(path);
    expect(read.token).toEqual({ from: 'env', name: 'GW_TOKEN' });
    await saveConnectionSettings(path, { ...read, token: { from: 'none' } });
    const parsed = JSON5.parse(await readFile(path, 'utf8')).gateway.remote;
    expect(Object.keys(parsed).filter((k) => k.startsWith('token'))).toEqual([]);
  });

  it('refuses to write a config the gateway would refuse, naming the key, and leaves the file as it was', async () => {
    const path = join(dir, 'config.json5');
    const original = `{ gateway: { prot: 1 } }\n`;
    await writeFile(path, original);
    await expect(saveConnectionSettings(path, remote)).rejects.toMatchObject({
      code: 'BAD_REQUEST',
      message: expect.stringContaining('gateway.prot: unknown key'),
    });
    expect(await readFile(path, 'utf8')).toBe(original);
  });

  it('refuses a file that is not JSON5 instead of overwriting it', async () => {
    const path = join(dir, 'config.json5');
    await writeFile(path, '{ gateway: ');
    await expect(saveConnectionSettings(path, remote)).rejects.toMatchObject({
      code: 'BAD_REQUEST',
    });
    expect(await readFile(path, 'utf8')).toBe('{ gateway: ');
  });

  it('finds the local gateway URL from the port and TLS settings', async () => {
    const path = join(dir, 'config.json5');
    expect(await localGatewayUrl(path)).toBe('ws://127.0.0.1:18789');
    await writeFile(path, `{ gateway: { port: 19000, tls: { enabled: true } } }`);
    expect(await localGatewayUrl(path)).toBe('wss://127.0.0.1:19000');
  });
});
