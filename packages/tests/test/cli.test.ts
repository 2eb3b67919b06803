import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { HealthOutput, StatusOutput } from '@loopgate/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  makeTempDir,
  runCli,
  spawnCli,
  startTestGateway,
  type TestGateway,
  waitForOutput,
} from '../src/index.js';

describe('loopgate gateway run (a real child process)', () => {
  it('prints where it listens and where the token is, never the token, and stops on SIGINT', async () => {
    const stateDir = await makeTempDir();
    const child = spawnCli(['gateway', 'run', '--port', '0'], {
      env: { LOOPGATE_STATE_DIR: stateDir },
    });
    const out = await waitForOutput(child, (t) => t.includes('logs:'));
    expect(out).toMatch(/listening on ws:\/\/127\.0\.0\.1:\d+/);
    expect(out).toContain(join(stateDir, 'gateway-token'));
    const port = Number(/127\.0\.0\.1:(\d+)/.exec(out)?.[1]);
    const health = await runCli(['health', '--json', '--url', `ws://127.0.0.1:${port}`], {
      env: { LOOPGATE_STATE_DIR: stateDir },
    });
    expect(health.code).toBe(0);
    expect(HealthOutput.parse(JSON.parse(health.stdout)).ok).toBe(true);
    const { readFile } = await import('node:fs/promises');
    const token = (await readFile(join(stateDir, 'gateway-token'), 'utf8')).trim();
    expect(out).not.toContain(token);
    const exited = new Promise<number | null>((resolve) =>
      child.once('exit', (code) => resolve(code)),
    );
    child.kill('SIGINT');
    expect(await exited).toBe(0);
  });

  it('refuses an invalid config file with the key path, exit 2, no stack trace', async () => {
    const dir = await makeTempDir();
    const configPath = join(dir, 'config.json5');
    await writeFile(configPath, '{ gateway: { port: "abc" } }');
    const result = await runCli(['gateway', 'run'], {
      env: { LOOPGATE_CONFIG: configPath, LOOPGATE_STATE_DIR: dir },
    });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('gateway.port: expected integer 0-65535, got "abc"');
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });
});

describe('client commands against a running gateway', () => {
  let gw: TestGateway;
  let env: NodeJS.ProcessEnv;
  beforeAll(async () => {
    gw = await startTestGateway();
    // A local client finds the gateway through the same env and state dir as the gateway.
    env = { LOOPGATE_STATE_DIR: gw.stateDir, LOOPGATE_GATEWAY_PORT: String(gw.port) };
  });
  afterAll(() => gw.stop());

  it('health --json prints a schema-valid result alone on stdout', async () => {
    const result = await runCli(['health', '--json'], { env });
    expect(result.code).toBe(0);
    expect(HealthOutput.parse(JSON.parse(result.stdout)).version).toBe('0.1.0');
  });

  it('gateway call health goes through the generic door with the same result shape', async () => {
    const result = await runCli(['gateway', 'call', 'health', '--json'], { env });
    expect(result.code).toBe(0);
    expect(HealthOutput.parse(JSON.parse(result.stdout)).ok).toBe(true);
  });

  it('gateway status --json is schema-valid and human output names the bind', async () => {
    const json = await runCli(['gateway', 'status', '--json'], { env });
    expect(StatusOutput.parse(JSON.parse(json.stdout)).bind.mode).toBe('loopback');
    const human = await runCli(['status'], { env });
    expect(human.stdout).toContain(`bind: loopback → ws://127.0.0.1:${gw.port}`);
  });

  it('a gateway error is one line on stderr with exit 1', async () => {
    const result = await runCli(['gateway', 'call', 'no.such'], { env });
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr.trim()).toBe('loopgate: NOT_FOUND: no procedure named "no.such"');
    const json = await runCli(['gateway', 'call', 'no.such', '--json'], { env });
    expect(json.code).toBe(1);
    expect(json.stdout).toBe('');
    expect(JSON.parse(json.stderr)).toEqual({
      error: { code: 'NOT_FOUND', message: 'no procedure named "no.such"' },
    });
  });

  it('a wrong token is a typed UNAUTHORIZED with exit 1, and the token is not echoed', async () => {
    const result = await runCli(['health', '--token', 'not-the-token-at-all'], { env });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^loopgate: UNAUTHORIZED: invalid token/m);
    expect(result.stderr).not.toContain('not-the-token-at-all');
  });

  it('bad --params JSON is a usage error (exit 2)', async () => {
    const result = await runCli(['gateway', 'call', 'status', '--params', '{deep'], { env });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--params is not valid JSON');
  });
});

it('cannot connect: one clear line and exit 3', async () => {
  const result = await runCli(['health', '--url', 'ws://127.0.0.1:1']);
  expect(result.code).toBe(3);
  expect(result.stderr.trim()).toBe(
    'loopgate: UNAVAILABLE: cannot connect to ws://127.0.0.1:1: connection refused — is the gateway running? (loopgate gateway run)',
  );
});
