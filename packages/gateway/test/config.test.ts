import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config/index.js';

async function configFile(text: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'loopgate-config-'));
  const path = join(dir, 'config.json5');
  await writeFile(path, text);
  return path;
}

async function configError(promise: Promise<unknown>): Promise<ConfigError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ConfigError);
  return error as ConfigError;
}

describe('loadConfig', () => {
  it('uses embedded defaults when no file exists', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'loopgate-config-'));
    const { config, path } = await loadConfig({ env: { LOOPGATE_STATE_DIR: dir } });
    expect(path).toBeUndefined();
    expect(config.gateway).toMatchObject({ port: 18789, bind: 'loopback', mode: 'local' });
    expect(config.gateway.limits.preAuthMaxPayloadBytes).toBe(64 * 1024);
  });

  it('reads JSON5 with comments and trailing commas', async () => {
    const path = await configFile('{ // my gateway\n gateway: { port: 4000, }, }');
    const { config } = await loadConfig({ configPath: path, env: {} });
    expect(config.gateway.port).toBe(4000);
  });

  it('applies flag > environment > file > default', async () => {
    const path = await configFile('{ gateway: { port: 4000, bind: "loopback" } }');
    const env = { LOOPGATE_GATEWAY_PORT: '5000' };
    expect((await loadConfig({ configPath: path, env })).config.gateway.port).toBe(5000);
    expect(
      (await loadConfig({ configPath: path, env, flags: { port: '6000' } })).config.gateway.port,
    ).toBe(6000);
  });

  it('names the key path, the reason and the value for a bad value', async () => {
    const path = await configFile('{ gateway: { port: "abc" } }');
    const error = await configError(loadConfig({ configPath: path, env: {} }));
    expect(error.lines).toEqual(['gateway.port: expected integer 0-65535, got "abc"']);
    expect(error.message).not.toMatch(/\bat \S+ \(/);
  });

  it('reports a bad environment value by key path too', async () => {
    const error = await configError(
      loadConfig({ configPath: await configFile('{}'), env: { LOOPGATE_GATEWAY_PORT: '70000' } }),
    );
    expect(error.lines[0]).toBe('gateway.port: expected integer 0-65535, got 70000');
  });

  it('rejects unknown keys so typos do not pass silently', async () => {
    const path = await configFile('{ gateway: { prot: 1 } }');
    const error = await configError(loadConfig({ configPath: path, env: {} }));
    expect(error.lines).toEqual(['gateway.prot: unknown key']);
  });

  it('points at the line of a JSON5 syntax error', async () => {
    const path = await configFile('{\n gateway: { port: 1 \n');
    const error = await configError(loadConfig({ configPath: path, env: {} }));
    expect(error.lines[0]).toMatch(/^not valid JSON5 at line \d+/);
  });

  it('refuses an explicitly named file that does not exist', async () => {
    const error = await configError(
      loadConfig({ configPath: '/nonexistent/loopgate.json5', env: {} }),
    );
    expect(error.lines).toEqual(['file not found']);
  });

  it('remembers which credentials were explicit', async () => {
    const path = await configFile('{ gateway: { auth: { password: "correct horse battery" } } }');
    const loaded = await loadConfig({
      configPath: path,
      env: { LOOPGATE_GATEWAY_TOKEN: 'x'.repeat(32) },
    });
    expect(loaded.explicit).toEqual({ token: 'env', password: 'config' });
  });
});

describe('loadConfig and secrets', () => {
  it('never repeats a credential value in an error', async () => {
    const path = await configFile('{ gateway: { auth: { token: "hunter2-short" } } }');
    const error = await configError(loadConfig({ configPath: path, env: {} }));
    expect(error.lines).toEqual([
      'gateway.auth.token: expected at least 16 characters, got a value of 13 characters (not shown)',
    ]);
    expect(error.message).not.toContain('hunter2');
  });
});
