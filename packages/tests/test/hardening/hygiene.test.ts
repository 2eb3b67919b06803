/**
 * What leaves the gateway when things go wrong: error frames, log lines,
 * status output, the CLI's output, config errors (HARDENING rows 5 and 10).
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createGatewayClient } from '@loopgate/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type OperatorSocket,
  openOperatorSocket,
  type TrpcFrame,
} from '../../src/hardening/index.js';
import {
  makeTempDir,
  runCli,
  spawnCli,
  startTestGateway,
  type TestGateway,
  waitFor,
  waitForOutput,
} from '../../src/index.js';
import { startTcpProxy } from '../../src/tcp-proxy.js';

const TOKEN = 'hygiene-token-0123456789abcdef';
const PASSWORD = 'correct horse battery staple';
const WRONG_PASSWORD = 'wrong-password-guess-42';

/** Anything that looks like a stack frame, a source or state file path, or a URL into the filesystem. */
const STACK_OR_PATH =
  /\bat [\w.<>]+ \(|\bat (file|node):|\n\s+at |\/(tmp|home|root|work|usr|var|opt|proc)\/|node_modules|\.[cm]?[jt]s:\d+|file:\/\//;

function assertClean(text: string, what: string, secrets: string[]): void {
  expect(text, `${what} shows a stack trace or a file path`).not.toMatch(STACK_OR_PATH);
  for (const secret of secrets)
    expect(text.includes(secret), `${what} contains a secret`).toBe(false);
}

describe('row 05: error hygiene', () => {
  let gw: TestGateway;
  let logPath: string;
  beforeAll(async () => {
    const stateDir = await makeTempDir();
    logPath = join(stateDir, 'logs', 'gateway.log');
    // Most verbose logging, and NODE_ENV=test (tRPC would add stacks outside production).
    gw = await startTestGateway({
      stateDir,
      config: {
        logging: { level: 'trace', file: logPath },
        gateway: { auth: { mode: 'password', password: PASSWORD } },
      },
    });
  });
  afterAll(async () => {
    await gw.stop();
    await rm(gw.stateDir, { recursive: true, force: true });
  });

  it('row 05: no error frame (bad credentials, bad frames, bad input, internal failures) carries a stack trace, a path or a secret', async () => {
    const frames: TrpcFrame[] = [];

    const wrong = await openOperatorSocket(gw.url, '', { params: { password: WRONG_PASSWORD } });
    frames.push(await wrong.next());
    await wrong.closed;
    const missing = await openOperatorSocket(gw.url, '', { params: {} });
    frames.push(await missing.next());
    await missing.closed;

    const op: OperatorSocket = await openOperatorSocket(gw.url, '', {
      params: { password: PASSWORD },
    });
    op.ws.send('{"id": 1, "method": ');
    frames.push(await op.next());
    frames.push(await op.call(2, 'no.such.procedure'));
    frames.push(await op.call(3, 'status', { deep: 'yes' }));
    frames.push(await op.call(4, 'callMethod', { method: '../../etc/passwd' }, 'mutation'));
    frames.push(
      await op.call(
        5,
        'callMethod',
        { method: 'no.such.thing', params: { password: PASSWORD } },
        'mutation',
      ),
    );
    op.ws.send(
      JSON.stringify(
        Array.from({ length: 200 }, (_, i) => ({
          id: 100 + i,
          method: 'query',
          params: { path: 'health' },
        })),
      ),
    );
    for (let i = 0; i < 200; i++) frames.push(await op.next());
    op.ws.send(
      JSON.stringify({
        id: 6,
        method: 'subscription',
        params: { path: 'health', input: { json: null } },
      }),
    );
    frames.push(await op.answerTo(6));
    // ...followed by the subscription's `stopped` marker, which is not an error frame.
    expect((await op.answerTo(6)).result?.type).toBe('stopped');
    op.ws.send(Buffer.from([0xde, 0xad]), { binary: true });
    frames.push(await op.next());

    // A refusal from deeper in the gateway (rotate-token with a configured credential).
    frames.push(await op.call(7, 'auth.rotateToken', null, 'mutation'));

    op.ws.close();
    const text = frames.map((f) => JSON.stringify(f)).join('\n');
    expect(frames.filter((f) => f.error === undefined)).toEqual([]);
    assertClean(text, 'an error frame', [PASSWORD, WRONG_PASSWORD]);
  });

  it('row 05: an internal error is reported as INTERNAL with a generic message', async () => {
    // The token file's place taken by a directory: the write fails deep in fs, with paths in the fs error.
    const stateDir = await makeTempDir();
    const logFile = join(stateDir, 'logs', 'gateway.log');
    const local = await startTestGateway({
      stateDir,
      config: { logging: { level: 'trace', file: logFile } },
    });
    try {
      await rm(join(stateDir, 'gateway-token'));
      await mkdir(join(stateDir, 'gateway-token', 'blocker'), { recursive: true });
      const op = await openOperatorSocket(local.url, local.token);
      const frame = await op.call(1, 'auth.rotateToken', null, 'mutation');
      op.ws.close();
      expect(frame.error?.json.data.gatewayCode).toBe('INTERNAL');
      assertClean(JSON.stringify(frame), 'the INTERNAL error frame', [local.token]);
      await local.stop();
      const log = await readFile(logFile, 'utf8');
      expect(log).toMatch(/procedure failed/);
      for (const line of log.split('\n').filter(Boolean))
        assertClean(line, 'a log line', [local.token]);
    } finally {
      await local.stop();
      await rm(stateDir, { recursive: true, force: true });
    }
  });

  it('row 05: no log line at trace level carries a stack trace, a path, the password or a guessed password', async () => {
    // Give the log stream a moment to reach the file: wait until our traffic shows up in it.
    await waitFor(
      async () => (await readFile(logPath, 'utf8').catch(() => '')).includes('gateway listening'),
      { what: 'log file written' },
    );
    const log = await readFile(logPath, 'utf8');
    const lines = log.split('\n').filter(Boolean);
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines)
      assertClean(line, `log line ${line.slice(0, 80)}`, [PASSWORD, WRONG_PASSWORD]);
  });
});

describe('row 10: credential leakage', () => {
  let gw: TestGateway;
  let stateDir: string;
  beforeAll(async () => {
    stateDir = await makeTempDir();
    gw = await startTestGateway({ stateDir, config: { gateway: { auth: { token: TOKEN } } } });
  });
  afterAll(async () => {
    await gw.stop();
    await rm(stateDir, { recursive: true, force: true });
  });

  const cliEnv = () => ({ LOOPGATE_STATE_DIR: stateDir, HOME: stateDir });

  it('row 10: neither the typed client nor the CLI puts the token in the upgrade URL or headers', async () => {
    const proxy = await startTcpProxy(gw.port);
    try {
      const client = createGatewayClient({ url: proxy.url, token: TOKEN, retry: false });
      expect((await client.health.query()).ok).toBe(true);
      await client.close();
      const cli = await runCli(['health', '--url', proxy.url, '--token', TOKEN], { env: cliEnv() });
      expect(cli.code).toBe(0);
      const viaEnv = await runCli(['status', '--url', proxy.url], {
        env: { ...cliEnv(), LOOPGATE_GATEWAY_TOKEN: TOKEN },
      });
      expect(viaEnv.code).toBe(0);
      expect(proxy.requestHeads.length).toBeGreaterThanOrEqual(3);
      for (const head of proxy.requestHeads) {
        expect(head).not.toContain(TOKEN);
        expect(head.split('\r\n')[0]).not.toMatch(/token|password/i);
      }
      expect(cli.stdout + cli.stderr + viaEnv.stdout + viaEnv.stderr).not.toContain(TOKEN);
    } finally {
      await proxy.close();
    }
  });

  it('row 10: status over RPC and through the CLI (human and --json) never shows the token', async () => {
    const client = createGatewayClient({ url: gw.url, token: TOKEN, retry: false });
    const status = await client.status.query({ deep: true });
    await client.close();
    expect(JSON.stringify(status)).not.toContain(TOKEN);
    for (const args of [
      ['status'],
      ['status', '--json'],
      ['status', '--deep', '--json'],
      ['health', '--json'],
    ]) {
      const out = await runCli([...args, '--url', gw.url, '--token', TOKEN], { env: cliEnv() });
      expect(out.code, `${args.join(' ')}: ${out.stderr}`).toBe(0);
      expect(out.stdout + out.stderr).not.toContain(TOKEN);
    }
  });

  it('row 10: the gateway startup output and a failed start (port taken) never show the token', async () => {
    const dir = await makeTempDir();
    try {
      const env = { LOOPGATE_STATE_DIR: dir, HOME: dir, LOOPGATE_GATEWAY_TOKEN: TOKEN };
      const child = spawnCli(['gateway', 'run', '--port', '0', '--verbose'], {
        env: { ...env, LOOPGATE_LOG_LEVEL: 'trace' },
      });
      let output = '';
      child.stderr?.on('data', (d) => {
        output += d;
      });
      output += await waitForOutput(child, (t) => t.includes('logs:'));
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
      expect(output).toMatch(/auth: token from configuration/);
      expect(output).not.toContain(TOKEN);

      const crashed = await runCli(['gateway', 'run', '--port', String(gw.port)], { env });
      expect(crashed.code).not.toBe(0);
      expect(crashed.stderr).toMatch(/already in use/);
      expect(crashed.stdout + crashed.stderr).not.toContain(TOKEN);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('row 10: a config error names the key but never echoes a secret value', async () => {
    const dir = await makeTempDir();
    try {
      const configPath = join(dir, 'config.json5');
      const weak = 'hunter2';
      await writeFile(
        configPath,
        `{ gateway: { port: 0, auth: { password: '${weak}', token: 'short-secret' } } }\n`,
      );
      const out = await runCli(['gateway', 'run', '--config', configPath], {
        env: { LOOPGATE_STATE_DIR: dir, HOME: dir },
      });
      expect(out.code).toBe(2);
      expect(out.stderr).toMatch(/gateway\.auth\.password/);
      expect(out.stderr).toMatch(/gateway\.auth\.token/);
      expect(out.stdout + out.stderr).not.toContain(weak);
      expect(out.stdout + out.stderr).not.toContain('short-secret');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
