import { writeFile } from 'node:fs/promises';
import { createServer as createHttpServer, type Server } from 'node:http';
import {
  connect,
  createServer as createNetServer,
  type Server as NetServer,
  type Socket,
} from 'node:net';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { GATEWAY_PROCEDURES, procedureSetHash } from '@loopgate/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type CliResult,
  describeWithRealPart,
  makeTempDir,
  runCli,
  startTestGateway,
  type TestGateway,
} from '../src/index.js';
import { type SshdHandle, sshdAvailable, sshProcessesMatching, startSshd } from '../src/sshd.js';

/* `loopgate gateway probe` as a real process against real listeners: one verdict per step, and the failure each exists to tell apart. */

type Report = {
  ok: boolean;
  diagnosis?: string;
  steps: { step: string; verdict: string; detail: string; fix?: string }[];
  certificate?: { fingerprint: string };
  gateway?: { version: string; procedures: string };
};

function parseReport(result: CliResult): Report {
  try {
    return JSON.parse(result.stdout) as Report;
  } catch {
    throw new Error(`probe printed no JSON (exit ${result.code}); stderr: ${result.stderr}`);
  }
}

const verdicts = (report: Report) => report.steps.map((s) => `${s.step}:${s.verdict}`);

function listen<T extends Server | NetServer>(server: T, host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve) => {
    server.listen(0, host, () => {
      const address = server.address();
      resolve(typeof address === 'object' && address ? address.port : 0);
    });
  });
}

function closeServer(server: Server | NetServer, sockets: Set<Socket> = new Set()): Promise<void> {
  for (const socket of sockets) socket.destroy();
  return new Promise((resolve) => server.close(() => resolve()));
}

describe('loopgate gateway probe: a healthy gateway', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway();
  });
  afterAll(async () => {
    await gw?.stop();
  });

  it('every step passes, in order, and the exit code is 0', async () => {
    const env = { LOOPGATE_STATE_DIR: gw.stateDir };
    const result = await runCli(['gateway', 'probe', '--url', gw.url, '--json'], { env });
    expect(result.code, result.stderr).toBe(0);
    const report = parseReport(result);
    expect(verdicts(report)).toEqual([
      'resolve:ok',
      'tcp:ok',
      'tls:skip',
      'upgrade:ok',
      'version:ok',
      'auth:ok',
      'health:ok',
    ]);
    expect(report.steps.find((s) => s.step === 'auth')?.detail).toContain(
      'accepted: token from the token file in the state dir · scope operator.admin (gateway-token)',
    );
    expect(report.gateway).toEqual({
      version: '0.1.0',
      procedures: procedureSetHash(GATEWAY_PROCEDURES),
    });

    const human = await runCli(['gateway', 'probe', '--url', gw.url], { env });
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/\[ OK \] upgrade +[\d.]+ ms {2}HTTP 101/);
    expect(human.stdout).toContain('verdict: ok');
    expect(human.stdout).not.toContain(gw.token);
  });

  it('credential refused: auth fails with the credential source named, exit 1', async () => {
    const result = await runCli(
      ['gateway', 'probe', '--url', gw.url, '--token', 'not-the-token-of-this-gateway', '--json'],
      { env: { LOOPGATE_STATE_DIR: gw.stateDir } },
    );
    expect(result.code).toBe(1);
    const report = parseReport(result);
    expect(report.diagnosis).toBe('credential-refused');
    expect(verdicts(report).slice(-2)).toEqual(['auth:fail', 'health:skip']);
    expect(report.steps.at(-2)?.detail).toContain('token from the --token/--password flag');
    expect(result.stdout).not.toContain('not-the-token-of-this-gateway');
  });
});

describe('loopgate gateway probe: what it must tell apart', () => {
  it('nothing listening: tcp fails with connection refused, exit 3', async () => {
    const server = createNetServer();
    const port = await listen(server);
    await closeServer(server);
    const result = await runCli(['gateway', 'probe', '--url', `ws://127.0.0.1:${port}`, '--json']);
    expect(result.code).toBe(3);
    const report = parseReport(result);
    expect(report.diagnosis).toBe('nothing-listening');
    expect(verdicts(report)).toEqual(['resolve:ok', 'tcp:fail']);
  });

  it('a wedged listener (accepts TCP, never answers): the upgrade step says wedged, exit 3', async () => {
    const sockets = new Set<Socket>();
    const server = createNetServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => socket.destroy());
    });
    const port = await listen(server);
    try {
      const result = await runCli([
        'gateway',
        'probe',
        '--url',
        `ws://127.0.0.1:${port}`,
        '--timeout',
        '500',
        '--json',
      ]);
      expect(result.code).toBe(3);
      const report = parseReport(result);
      expect(report.diagnosis).toBe('wedged');
      expect(verdicts(report)).toEqual(['resolve:ok', 'tcp:ok', 'tls:skip', 'upgrade:fail']);
      expect(report.steps.at(-1)?.detail).toContain('listening but wedged');
      expect(sockets.size).toBeGreaterThan(0);
    } finally {
      await closeServer(server, sockets);
    }
  });

  it('a plain HTTP server is not a Loopgate gateway, exit 3', async () => {
    const server = createHttpServer((_req, res) => res.end('hello'));
    server.on('upgrade', (_req, socket: Socket) =>
      socket.end('HTTP/1.1 404 Not Found\r\nServer: someone-else\r\nContent-Length: 0\r\n\r\n'),
    );
    const port = await listen(server);
    try {
      const result = await runCli([
        'gateway',
        'probe',
        '--url',
        `ws://127.0.0.1:${port}`,
        '--json',
      ]);
      expect(result.code).toBe(3);
      const report = parseReport(result);
      expect(report.diagnosis).toBe('not-a-gateway');
      expect(report.steps.at(-1)?.detail).toContain('HTTP 404 (server: someone-else)');
    } finally {
      server.closeAllConnections();
      await closeServer(server);
    }
  });

  it('version skew: the gateway is reached and answers, but its version and procedure set differ, exit 1', async () => {
    // Only one release exists here, so an older gateway is played by a real one behind a relay
    // that rewrites its identity headers (same lengths, so the stream stays intact).
    const gw = await startTestGateway();
    const sockets = new Set<Socket>();
    const relay = createNetServer((client) => {
      const upstream = connect(gw.port, '127.0.0.1');
      sockets.add(client).add(upstream);
      let first = true;
      upstream.on('data', (chunk: Buffer) => {
        if (first) {
          first = false;
          const head = chunk
            .toString('latin1')
            .replace(/(x-loopgate-version: )0\.1\.0/i, '$10.0.9')
            .replace(/(x-loopgate-procedures: )[0-9a-f]{16}/i, '$10123456789abcdef');
          client.write(Buffer.from(head, 'latin1'));
        } else client.write(chunk);
      });
      client.pipe(upstream);
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    const port = await listen(relay);
    try {
      const result = await runCli([
        'gateway',
        'probe',
        '--url',
        `ws://127.0.0.1:${port}`,
        '--token',
        gw.token,
        '--json',
      ]);
      expect(result.code).toBe(1);
      const report = parseReport(result);
      expect(report.diagnosis).toBe('version-skew');
      expect(verdicts(report)).toEqual([
        'resolve:ok',
        'tcp:ok',
        'tls:skip',
        'upgrade:ok',
        'version:fail',
        'auth:ok',
        'health:ok',
      ]);
      expect(report.steps.find((s) => s.step === 'version')?.detail).toBe(
        `version skew: gateway 0.0.9 procedures 0123456789abcdef, this client 0.1.0 procedures ${procedureSetHash(GATEWAY_PROCEDURES)}`,
      );
    } finally {
      await closeServer(relay, sockets);
      await gw.stop();
    }
  });
});

describe('loopgate gateway probe: wss and the pin', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway({ config: { gateway: { tls: { enabled: true } } } });
  });
  afterAll(async () => {
    await gw?.stop();
  });

  it('the right pin passes every step and still shows the certificate details', async () => {
    const url = `wss://127.0.0.1:${gw.port}`;
    const fingerprint = gw.gateway.tlsFingerprint ?? '';
    const result = await runCli(
      ['gateway', 'probe', '--url', url, '--tls-fingerprint', fingerprint],
      { env: { LOOPGATE_STATE_DIR: gw.stateDir } },
    );
    expect(result.code, result.stdout).toBe(0);
    expect(result.stdout).toMatch(/\[ OK \] tls .*pin matches/);
    expect(result.stdout).toContain(`sha256 fingerprint: ${fingerprint}`);
    expect(result.stdout).toContain('trusted by the system CAs: no');
  });

  it('a wrong pin: the tls step fails with both fingerprints, no credential is sent, exit 3', async () => {
    const url = `wss://127.0.0.1:${gw.port}`;
    const wrong = Array.from({ length: 32 }, () => 'AB').join(':');
    const result = await runCli(
      ['gateway', 'probe', '--url', url, '--tls-fingerprint', wrong, '--json'],
      { env: { LOOPGATE_STATE_DIR: gw.stateDir } },
    );
    expect(result.code).toBe(3);
    const report = parseReport(result);
    expect(report.diagnosis).toBe('tls-pin-mismatch');
    expect(verdicts(report)).toEqual(['resolve:ok', 'tcp:ok', 'tls:fail']);
    expect(report.steps.at(-1)?.detail).toContain(gw.gateway.tlsFingerprint ?? '?');
  });
});

/** An address of this machine that is not loopback: the lockout never applies to loopback CLI callers. */
function nonLoopbackAddress(): string {
  for (const list of Object.values(networkInterfaces())) {
    for (const entry of list ?? [])
      if (entry.family === 'IPv4' && !entry.internal) return entry.address;
  }
  throw new Error('this machine has no non-loopback IPv4 address to test the lockout from');
}

describe('loopgate gateway probe: a locked-out address', () => {
  it('probes cost no failed login; after failed logins from this address, the upgrade is refused with 429 and the probe says locked out, exit 1', async () => {
    const host = nonLoopbackAddress();
    const token = 'probe-lockout-test-token-0123456789';
    const gw = await startTestGateway({
      config: {
        gateway: {
          bind: 'custom',
          customBindHost: host,
          auth: { token, rateLimit: { maxFailures: 2, windowMs: 60_000, lockoutMs: 60_000 } },
        },
      },
    });
    const url = `ws://${host}:${gw.port}`;
    const probe = (credential: string) =>
      runCli([
        'gateway',
        'probe',
        '--url',
        url,
        '--insecure-plaintext',
        '--token',
        credential,
        '--json',
      ]);
    try {
      // Probing with the right credential costs no failed attempt: the upgrade check waits for
      // credentials rather than counting as a login without one.
      for (let i = 0; i < 3; i++) expect((await probe(token)).code).toBe(0);
      for (let i = 0; i < 2; i++)
        expect(parseReport(await probe('wrong-token-wrong-token-wrong')).diagnosis).toBe(
          'credential-refused',
        );
      const locked = await probe(token);
      expect(locked.code).toBe(1);
      const report = parseReport(locked);
      expect(report.diagnosis).toBe('locked-out');
      expect(report.steps.at(-1)).toMatchObject({ step: 'upgrade', verdict: 'fail' });
      expect(report.steps.at(-1)?.detail).toContain('HTTP 429');
      expect(report.steps.at(-1)?.fix).toMatch(/wait \d+ s/);
    } finally {
      await gw.stop();
    }
  });
});

describeWithRealPart('a real sshd and ssh client', sshdAvailable())(
  'loopgate gateway probe --ssh',
  () => {
    let sshd: SshdHandle;
    let gw: TestGateway;
    beforeAll(async () => {
      sshd = await startSshd();
      gw = await startTestGateway();
    });
    afterAll(async () => {
      await gw?.stop();
      await sshd?.stop();
    });

    /** An operator laptop's config: the gateway reached through the test sshd on `remotePort`. */
    const remoteConfig = async (remotePort: number): Promise<NodeJS.ProcessEnv> => {
      const dir = await makeTempDir('loopgate-probe-ssh-');
      const ssh = { target: 'unused', configFile: sshd.sshConfigPath, remotePort, localPort: 0 };
      await writeFile(
        join(dir, 'config.json5'),
        JSON.stringify({ gateway: { mode: 'remote', remote: { token: gw.token, ssh } } }),
      );
      return { LOOPGATE_STATE_DIR: dir };
    };

    it('through a tunnel: ssh up, forward ready, then every gateway step; no ssh left behind', async () => {
      const env = await remoteConfig(gw.port);
      const result = await runCli(['gateway', 'probe', '--ssh', sshd.hostAlias, '--json'], {
        env,
        timeoutMs: 40_000,
      });
      expect(result.code, result.stdout + result.stderr).toBe(0);
      const report = parseReport(result);
      expect(verdicts(report)).toEqual([
        'ssh:ok',
        'forward:ok',
        'tls:skip',
        'upgrade:ok',
        'version:ok',
        'auth:ok',
        'health:ok',
      ]);
      expect(sshProcessesMatching(`:127.0.0.1:${gw.port}`)).toEqual([]);
    });

    it('through a tunnel to a port where nothing listens: the far end is named, exit 3', async () => {
      const closed = createNetServer();
      const port = await listen(closed);
      await closeServer(closed);
      const env = await remoteConfig(port);
      const result = await runCli(['gateway', 'probe', '--ssh', sshd.hostAlias, '--json'], {
        env,
        timeoutMs: 40_000,
      });
      expect(result.code).toBe(3);
      const report = parseReport(result);
      expect(report.diagnosis).toBe('nothing-listening');
      expect(report.steps.slice(0, 2).map((s) => `${s.step}:${s.verdict}`)).toEqual([
        'ssh:ok',
        'forward:ok',
      ]);
      expect(report.steps.at(-1)?.detail).toContain('the far end closed it');
    });
  },
);
