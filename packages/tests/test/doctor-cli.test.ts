import { spawn } from 'node:child_process';
import { chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { NodeKey } from '@loopgate/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type CliResult,
  makeTempDir,
  runCli,
  startTestGateway,
  type TestGateway,
} from '../src/index.js';

/* `loopgate doctor` as a real process: a healthy setup, and each problem it exists to find, with --fix. */

type Report = {
  ok: boolean;
  checks: { check: string; status: string; detail: string; fix?: string; fixed?: string }[];
};

function parseReport(result: CliResult): Report {
  try {
    return JSON.parse(result.stdout) as Report;
  } catch {
    throw new Error(`doctor printed no JSON (exit ${result.code}); stderr: ${result.stderr}`);
  }
}

const line = (report: Report, check: string) => {
  const found = report.checks.find((c) => c.check === check);
  if (!found)
    throw new Error(`no "${check}" line in: ${report.checks.map((c) => c.check).join(', ')}`);
  return found;
};

/** A pid that certainly names no process any more: a child that has exited and been reaped. */
async function deadPid(): Promise<number> {
  const child = spawn('true');
  await new Promise((resolve) => child.once('exit', resolve));
  return child.pid ?? 999_999;
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)),
  );
}

describe('loopgate doctor: a healthy setup', () => {
  let gw: TestGateway;
  let home: string;
  beforeAll(async () => {
    gw = await startTestGateway();
    home = await makeTempDir();
    await writeFile(join(gw.stateDir, 'config.json5'), `{ gateway: { port: ${gw.port} } }\n`, {
      mode: 0o600,
    });
  });
  afterAll(async () => {
    await gw?.stop();
  });

  it('every line is OK: the lock names the running gateway, its port is ours, the probe passes; exit 0', async () => {
    const result = await runCli(['doctor', '--json'], {
      env: { LOOPGATE_STATE_DIR: gw.stateDir, HOME: home },
    });
    expect(result.code, result.stdout).toBe(0);
    const report = parseReport(result);
    expect(report.checks.filter((c) => c.status !== 'ok')).toEqual([]);
    expect(line(report, 'gateway lock').detail).toMatch(
      new RegExp(`gateway pid \\d+ on port ${gw.port}`),
    );
    expect(line(report, 'port').detail).toBe(`${gw.port} held by our gateway`);
    expect(line(report, 'gateway').detail).toContain('every probe step passed');

    const human = await runCli(['doctor'], {
      env: { LOOPGATE_STATE_DIR: gw.stateDir, HOME: home },
    });
    expect(human.stdout).toMatch(/^\[ OK \] config: .*config\.json5 parses and validates$/m);
    expect(human.stdout).toContain('all good');
    expect(human.stdout).not.toContain(gw.token);
  });
});

describe('loopgate doctor: a broken setup', () => {
  it('finds bad modes, a stale lock and stale tunnel records; --fix repairs exactly those and says so', async () => {
    const stateDir = await makeTempDir();
    const home = await makeTempDir();
    const env = { LOOPGATE_STATE_DIR: stateDir, HOME: home };
    const free = createServer();
    const port = await listen(free);
    await new Promise((resolve) => free.close(resolve));
    await writeFile(join(stateDir, 'config.json5'), `{ gateway: { port: ${port} } }\n`);
    await writeFile(join(stateDir, 'gateway-token'), 'a-generated-token-of-enough-length\n');
    await mkdir(join(stateDir, 'tunnels'));
    const dead = await deadPid();
    await writeFile(
      join(stateDir, 'tunnels', 'tunnel-40000.json'),
      JSON.stringify({
        pid: dead,
        ownerPid: dead,
        target: 'me@host',
        sshPort: null,
        remotePort: 18789,
        localPort: 40000,
      }),
    );
    await writeFile(
      join(stateDir, 'gateway.lock'),
      JSON.stringify({
        id: 'crashed',
        pid: dead,
        startedAt: Date.now() - 60_000,
        version: '0.1.0',
        host: hostname(),
        port,
      }),
    );
    await chmod(stateDir, 0o755);
    await chmod(join(stateDir, 'gateway-token'), 0o644);
    await chmod(join(stateDir, 'config.json5'), 0o644);

    const before = await runCli(['doctor', '--json'], { env });
    expect(before.code).toBe(1);
    const broken = parseReport(before);
    expect(line(broken, 'state modes')).toMatchObject({
      status: 'fail',
      fix: expect.stringContaining('loopgate doctor --fix'),
    });
    expect(line(broken, 'state modes').detail).toContain('gateway-token 0644');
    expect(line(broken, 'gateway lock')).toMatchObject({ status: 'warn' });
    expect(line(broken, 'gateway lock').detail).toContain(`stale lock of pid ${dead}`);
    expect(line(broken, 'tunnel records')).toMatchObject({ status: 'warn' });

    const fixed = await runCli(['doctor', '--fix'], { env });
    expect(fixed.code, fixed.stdout).toBe(0);
    expect(fixed.stdout).toMatch(/fixed: tightened \d+ entries/);
    expect(fixed.stdout).toContain('fixed: removed the stale lock');
    expect(fixed.stdout).toContain('fixed: removed 1 stale tunnel record(s)');
    expect((await stat(stateDir)).mode & 0o777).toBe(0o700);
    expect((await stat(join(stateDir, 'gateway-token'))).mode & 0o777).toBe(0o600);
    await expect(stat(join(stateDir, 'gateway.lock'))).rejects.toMatchObject({ code: 'ENOENT' });

    const after = parseReport(await runCli(['doctor', '--json'], { env }));
    expect(after.checks.filter((c) => c.status !== 'ok')).toEqual([]);
  });

  it('an invalid config fails with its key path, and --fix leaves the file byte for byte', async () => {
    const stateDir = await makeTempDir();
    const env = { LOOPGATE_STATE_DIR: stateDir, HOME: await makeTempDir() };
    const text = "{ gateway: { port: 'abc' } }\n";
    await writeFile(join(stateDir, 'config.json5'), text, { mode: 0o600 });
    await chmod(stateDir, 0o700);
    const result = await runCli(['doctor', '--fix'], { env });
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/^\[FAIL\] config: .*gateway\.port: /m);
    expect(result.stdout).toContain('doctor --fix never rewrites the config');
    expect(await readFile(join(stateDir, 'config.json5'), 'utf8')).toBe(text);
  });

  it('a port held by another program fails with the command that finds it', async () => {
    const stateDir = await makeTempDir();
    const squatter = createServer();
    const port = await listen(squatter);
    try {
      await writeFile(join(stateDir, 'config.json5'), `{ gateway: { port: ${port} } }\n`, {
        mode: 0o600,
      });
      await chmod(stateDir, 0o700);
      const report = parseReport(
        await runCli(['doctor', '--json'], {
          env: { LOOPGATE_STATE_DIR: stateDir, HOME: await makeTempDir() },
        }),
      );
      expect(line(report, 'port')).toMatchObject({
        status: 'fail',
        fix: expect.stringContaining(`ss -ltnp 'sport = :${port}'`),
      });
    } finally {
      await new Promise((resolve) => squatter.close(resolve));
    }
  });

  it('a remote target that is wedged, and an ssh host with no known_hosts entry for its port', async () => {
    const sockets = new Set<Socket>();
    const wedged = createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => socket.destroy());
    });
    const port = await listen(wedged);
    const stateDir = await makeTempDir();
    const env = { LOOPGATE_STATE_DIR: stateDir, HOME: await makeTempDir() };
    try {
      await chmod(stateDir, 0o700);
      await writeFile(
        join(stateDir, 'config.json5'),
        `{ gateway: { mode: 'remote', remote: { url: 'ws://127.0.0.1:${port}', token: 'a-remote-token-0123456789' } } }\n`,
        { mode: 0o600 },
      );
      const remote = parseReport(await runCli(['doctor', '--json'], { env }));
      expect(line(remote, 'remote gateway')).toMatchObject({ status: 'fail' });
      expect(line(remote, 'remote gateway').detail).toContain('listening but wedged');

      await writeFile(
        join(stateDir, 'config.json5'),
        "{ gateway: { mode: 'remote', remote: { ssh: { target: 'me@gateway.invalid', port: 2222 } } } }\n",
        { mode: 0o600 },
      );
      const ssh = parseReport(await runCli(['doctor', '--json'], { env, timeoutMs: 40_000 }));
      expect(line(ssh, 'ssh binary').status).toBe('ok');
      expect(line(ssh, 'known_hosts')).toMatchObject({
        status: 'fail',
        fix: expect.stringContaining('ssh -p 2222 me@gateway.invalid true'),
      });
      expect(line(ssh, 'known_hosts').detail).toContain('[gateway.invalid]:2222');
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => wedged.close(resolve));
    }
  });
});

describe('loopgate doctor: node identities', () => {
  it('passes a node key only its owner reads, names a token-era state file for re-pairing, fails a key others can read', async () => {
    const stateDir = await makeTempDir();
    const env = { LOOPGATE_STATE_DIR: stateDir, HOME: await makeTempDir() };
    const nodeKeys = async () =>
      line(parseReport(await runCli(['doctor', '--json'], { env })), 'node keys');

    await writeFile(join(stateDir, 'node-box.key'), NodeKey.generate().toPem(), { mode: 0o600 });
    await writeFile(
      join(stateDir, 'node-box.json'),
      JSON.stringify({ version: 2, name: 'box', nodeId: 'nd_1' }),
      { mode: 0o600 },
    );
    expect(await nodeKeys()).toMatchObject({ status: 'ok', detail: '1 node identity, 1 paired' });

    await writeFile(
      join(stateDir, 'node-old.json'),
      JSON.stringify({ version: 1, name: 'old', nodeId: 'nd_2', nodeToken: 'lgn_x' }),
      { mode: 0o600 },
    );
    expect(await nodeKeys()).toMatchObject({
      status: 'warn',
      detail: expect.stringContaining('node-old.json'),
      fix: expect.stringContaining('loopgate nodes remove'),
    });

    await chmod(join(stateDir, 'node-box.key'), 0o644);
    expect(await nodeKeys()).toMatchObject({
      status: 'fail',
      detail: expect.stringContaining('node-box.key (readable by others)'),
    });
  });
});
