import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  makeTempDir,
  requireRealPart,
  runCli,
  spawnCli,
  sshdAvailable,
  waitForOutput,
} from '../src/index.js';

/** Servers a test opened, closed after it whatever happened. */
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

async function listen(server: Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(() => new Promise((resolve) => server.close(() => resolve())));
  return (server.address() as { port: number }).port;
}

/** A port nobody listens on (the kernel's pick, released at once). */
async function closedPort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('no silent waits (real processes)', () => {
  it('node run against a refusing address prints the URL, each failure and the next delay', async () => {
    const dir = await makeTempDir();
    const url = `ws://127.0.0.1:${await closedPort()}`;
    const child = spawnCli(['node', 'run', '--name', 'retry-test', '--url', url], {
      env: { HOME: dir, LOOPGATE_STATE_DIR: dir },
    });
    cleanups.push(async () => {
      if (child.exitCode === null) {
        child.kill('SIGKILL');
        await once(child, 'exit');
      }
    });
    const escaped = url.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    const line = new RegExp(
      `node retry-test: connecting to ${escaped}: connection refused — retrying in [\\d.]+ (ms|s) \\(attempt 2\\)`,
    );
    const stderr = await waitForOutput(child, (text) => line.test(text), {
      stream: 'stderr',
      timeoutMs: 20_000,
    });
    expect(stderr).toContain(`node retry-test: connecting to ${url}\n`);
    expect(stderr).toMatch(/\(attempt 1\)/);
  });

  it('loopgate tunnel to a refusing sshd prints what it dials, why it failed and the next delay, like node run', async (context) => {
    requireRealPart('the OpenSSH client', sshdAvailable(), context);
    const dir = await makeTempDir();
    const sshPort = await closedPort();
    // A free local end, not the default 18789, where the developer's own gateway may be running.
    const localPort = await closedPort();
    const child = spawnCli(
      [
        'tunnel',
        '--ssh',
        'nobody@127.0.0.1',
        '--ssh-port',
        String(sshPort),
        '--local-port',
        String(localPort),
      ],
      { env: { HOME: dir, LOOPGATE_STATE_DIR: dir } },
    );
    cleanups.push(async () => {
      if (child.exitCode === null) {
        child.kill('SIGKILL');
        await once(child, 'exit');
      }
    });
    const line = new RegExp(
      `connecting to ssh://nobody@127\\.0\\.0\\.1:${sshPort}: .*refused.* — retrying in [\\d.]+ (ms|s) \\(attempt 1\\)`,
    );
    const stdout = await waitForOutput(child, (text) => line.test(text), { timeoutMs: 20_000 });
    expect(stdout).not.toMatch(/tunnel retrying/);
  });

  it('a listener that never answers the upgrade: exit 3 within seconds, saying it is not answering as a gateway', async () => {
    const sockets: Socket[] = [];
    const silent = createServer((socket) => sockets.push(socket));
    // before close(), which waits for every open socket
    cleanups.push(async () => {
      for (const socket of sockets) socket.destroy();
    });
    const port = await listen(silent);
    const started = Date.now();
    const result = await runCli(['health', '--url', `ws://127.0.0.1:${port}`], {
      installed: true,
      timeoutMs: 30_000,
    });
    expect(result.code).toBe(3);
    expect(result.stderr).toContain(
      'something accepts connections there but did not answer the WebSocket upgrade in time — it does not answer as a Loopgate gateway',
    );
    // a 5 s upgrade wait plus process start, with room for a loaded machine
    expect(Date.now() - started).toBeLessThan(20_000);
  });

  it('an HTTP server that is not a gateway is named as such, not echoed as its HTML', async () => {
    const web = createHttpServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      response.end('<!DOCTYPE HTML><html><body>Directory listing</body></html>');
    });
    const port = await listen(web as unknown as Server);
    const result = await runCli(['health', '--url', `ws://127.0.0.1:${port}`], {
      installed: true,
    });
    expect(result.code).toBe(3);
    expect(result.stderr).toContain(
      `cannot connect to ws://127.0.0.1:${port}: an HTTP server answered (HTTP 200, text/html) but it is not a Loopgate gateway`,
    );
    expect(result.stderr).not.toContain('DOCTYPE');
  });

  it('a one-shot command through ssh to a refusing host ends within 15 s, with progress and the classified reason', async (context) => {
    requireRealPart('the OpenSSH client', sshdAvailable(), context);
    const dir = await makeTempDir();
    const config = join(dir, 'config.json5');
    const sshPort = await closedPort();
    // A free local end, not the default 18789, where the developer's own gateway may be running.
    const localPort = await closedPort();
    await writeFile(
      config,
      JSON.stringify({
        gateway: {
          mode: 'remote',
          remote: { ssh: { target: 'nobody@127.0.0.1', port: sshPort, localPort } },
        },
      }),
    );
    const started = Date.now();
    const result = await runCli(['health'], {
      installed: true,
      timeoutMs: 40_000,
      env: { HOME: dir, LOOPGATE_STATE_DIR: dir, LOOPGATE_CONFIG: config },
    });
    const elapsed = Date.now() - started;
    expect(result.code).toBe(3);
    expect(result.stderr).toMatch(
      /loopgate: ssh tunnel to nobody@127\.0\.0\.1: retrying \(1\) in [\d.]+ s: .*refused the ssh connection/,
    );
    expect(result.stderr).toMatch(
      /loopgate: TUNNEL_FAILED: ssh tunnel to nobody@127\.0\.0\.1 not up after 15 s: .*refused the ssh connection/,
    );
    // 15 s of waiting, plus process start and closing ssh; far from the minute it used to take
    expect(elapsed).toBeLessThan(25_000);
  }, 60_000);
});
