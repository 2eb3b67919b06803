import { writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type CliResult,
  makeTempDir,
  runCli,
  startTestGateway,
  type TestGateway,
} from '../src/index.js';

/**
 * The exit-code contract (0 ok, 1 gateway error, 2 usage or config error,
 * 3 cannot connect) for every command that talks to a gateway, run as the
 * user runs them: the installed `loopgate` command, real processes.
 */
const ONE_SHOT: string[][] = [
  ['health'],
  ['status'],
  ['gateway', 'health'],
  ['gateway', 'status'],
  ['gateway', 'call', 'health'],
  ['send', '--channel', 'webchat', '--to', 's_missing', 'hello'],
  ['agent', 'hello'],
  ['sessions', 'list'],
  ['sessions', 'history', 's_missing'],
  ['sessions', 'reset', 's_missing'],
  ['nodes', 'list'],
  ['nodes', 'describe', 'laptop'],
  ['nodes', 'pending'],
  ['nodes', 'approve', 'laptop'],
  ['nodes', 'reject', 'laptop'],
  ['nodes', 'remove', 'laptop'],
  ['nodes', 'invoke', 'laptop', 'system.info'],
  ['gateway', 'auth', 'rotate-token'],
];
/** Long-running clients: they retry an unreachable gateway, but refuse bad settings at once. */
const LONG_RUNNING: string[][] = [['node', 'run', '--name', 'exit-code-test']];

/** A port nobody listens on (the kernel's pick, released at once). */
function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** The last stderr line under --json: `{"error":{"code","message","hint"?}}`. */
function jsonError(result: CliResult): { code: string; message: string; hint?: string } {
  const lines = result.stderr.trim().split('\n');
  return JSON.parse(lines[lines.length - 1] ?? '').error;
}

/** Runs the cases a few at a time: two cores, and every process is a real node. */
async function runAll<T>(items: T[], run: (item: T) => Promise<void>, width = 3): Promise<void> {
  const queue = [...items];
  await Promise.all(
    Array.from({ length: width }, async () => {
      for (let item = queue.shift(); item !== undefined; item = queue.shift()) await run(item);
    }),
  );
}

describe('one exit-code contract for every client command (installed loopgate, real processes)', () => {
  let gw: TestGateway;
  let dir: string;
  let badConfig: string;
  let unreachable: string;
  beforeAll(async () => {
    gw = await startTestGateway();
    dir = await makeTempDir();
    badConfig = join(dir, 'bad.json5');
    await writeFile(badConfig, '{ gateway: { port: "abc" } }');
    unreachable = `ws://127.0.0.1:${await closedPort()}`;
  });
  afterAll(() => gw.stop());

  const cli = (args: string[], env: NodeJS.ProcessEnv = {}) =>
    runCli(args, {
      installed: true,
      timeoutMs: 30_000,
      env: { HOME: dir, LOOPGATE_STATE_DIR: dir, ...env },
    });

  it('an invalid config file: exit 2 naming the key, from every command', async () => {
    await runAll([...ONE_SHOT, ...LONG_RUNNING], async (args) => {
      const result = await cli(args, { LOOPGATE_CONFIG: badConfig });
      expect({ args, code: result.code }).toEqual({ args, code: 2 });
      expect(result.stderr).toContain('gateway.port: expected integer 0-65535, got "abc"');
      expect(result.stderr).not.toMatch(/\n\s+at /);
    });
  }, 120_000);

  it('a malformed --url or --tls-fingerprint: exit 2 naming what is wrong, from every command', async () => {
    await runAll([...ONE_SHOT, ...LONG_RUNNING], async (args) => {
      const url = await cli([...args, '--url', 'not a url']);
      expect({ args, code: url.code }).toEqual({ args, code: 2 });
      expect(url.stderr).toContain('gateway URL is not a valid URL');
      const pin = await cli([...args, '--url', 'wss://127.0.0.1:1', '--tls-fingerprint', 'zz']);
      expect({ args, code: pin.code }).toEqual({ args, code: 2 });
      expect(pin.stderr).toContain('TLS fingerprint "zz" is not a SHA-256 fingerprint');
    });
  }, 120_000);

  it('an unreachable gateway: exit 3 with "cannot connect", from every one-shot command', async () => {
    await runAll(ONE_SHOT, async (args) => {
      const result = await cli([...args, '--url', unreachable]);
      expect({ args, code: result.code }).toEqual({ args, code: 3 });
      expect(result.stderr).toContain(`cannot connect to ${unreachable}: connection refused`);
    });
  }, 120_000);

  it('an error from the gateway (a refused token): exit 1 with the typed code, from every one-shot command', async () => {
    await runAll(ONE_SHOT, async (args) => {
      const result = await cli([...args, '--url', gw.url], {
        LOOPGATE_GATEWAY_TOKEN: 'not-the-token-0123456789',
      });
      expect({ args, code: result.code }).toEqual({ args, code: 1 });
      expect(result.stderr).toMatch(/loopgate: UNAUTHORIZED: /);
    });
  }, 120_000);

  it('under --json each failure is one {"error":{code,message,hint}} line on stderr with the same exit code, stdout empty', async () => {
    const cases: [string[], NodeJS.ProcessEnv, number, string][] = [
      [['health', '--json'], { LOOPGATE_CONFIG: badConfig }, 2, 'INVALID_CONFIG'],
      [['nodes', 'list', '--json', '--url', 'nope'], {}, 2, 'USAGE'],
      [['status', '--json', '--no-such-flag'], {}, 2, 'USAGE'],
      [['sessions', 'list', '--json', '--url', unreachable], {}, 3, 'UNAVAILABLE'],
      [
        ['health', '--json', '--url', gw.url],
        { LOOPGATE_GATEWAY_TOKEN: 'not-the-token-0123456789' },
        1,
        'UNAUTHORIZED',
      ],
      [
        ['nodes', 'describe', 'nobody', '--json', '--url', gw.url],
        { LOOPGATE_GATEWAY_TOKEN: gw.token },
        1,
        'NOT_FOUND',
      ],
    ];
    await runAll(cases, async ([args, env, code, errorCode]) => {
      const result = await cli(args, env);
      expect({ args, code: result.code }).toEqual({ args, code });
      expect(result.stdout).toBe('');
      const error = jsonError(result);
      expect({ args, code: error.code }).toEqual({ args, code: errorCode });
      expect(error.message.length).toBeGreaterThan(0);
    });
  }, 120_000);

  it('gateway.remote.tlsFingerprint pins gateway.remote.url only: an explicit --url ws:// is not refused for it', async () => {
    const config = join(dir, 'remote.json5');
    await writeFile(
      config,
      JSON.stringify({
        gateway: {
          mode: 'remote',
          remote: { url: 'wss://gateway.invalid:18789', tlsFingerprint: `${'AA:'.repeat(31)}AA` },
        },
      }),
    );
    const result = await cli(['health', '--json', '--url', gw.url], {
      LOOPGATE_CONFIG: config,
      LOOPGATE_GATEWAY_TOKEN: gw.token,
    });
    expect(result.stderr).not.toContain('a TLS fingerprint was given for a ws:// URL');
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout).ok).toBe(true);
  });
});
