import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createGatewayClient } from '@loopgate/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  describeWithRealPart,
  makeTempDir,
  runCli,
  type SshdHandle,
  spawnCli,
  sshdAvailable,
  sshProcessesMatching,
  startSshd,
  startTestGateway,
  type TestGateway,
  waitForOutput,
} from '../src/index.js';

/* The remote-access CLI commands, run as real `loopgate` processes against real gateways (and a real sshd). */

describe('loopgate gateway tls fingerprint / gateway probe', () => {
  let gateway: TestGateway;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    const stateDir = await makeTempDir();
    await writeFile(join(stateDir, 'config.json5'), '{ gateway: { tls: { enabled: true } } }\n');
    env = { LOOPGATE_STATE_DIR: stateDir };
    const before = await runCli(['gateway', 'tls', 'fingerprint'], { env });
    expect(before.code).toBe(2);
    expect(before.stderr).toContain('no certificate yet');
    gateway = await startTestGateway({ stateDir, config: { gateway: { tls: { enabled: true } } } });
  });

  afterAll(async () => {
    await gateway?.stop();
    await rm(env.LOOPGATE_STATE_DIR ?? '', { recursive: true, force: true });
  });

  it('prints the fingerprint of the certificate the gateway serves', async () => {
    const result = await runCli(['gateway', 'tls', 'fingerprint', '--json'], { env });
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({
      fingerprint: gateway.gateway.tlsFingerprint,
      selfSigned: true,
      tlsEnabled: true,
    });
  });

  it('probe shows the presented fingerprint, and pins it only when confirmed', async () => {
    const url = `wss://127.0.0.1:${gateway.port}`;
    const probe = await runCli(['gateway', 'probe', '--url', url], { env });
    // Unpinned and self-signed: a client command would refuse it (exit 3) until it is pinned.
    expect(probe.code).toBe(3);
    expect(probe.stdout).toContain('[FAIL] tls');
    expect(probe.stdout).toContain(`sha256 fingerprint: ${gateway.gateway.tlsFingerprint}`);
    expect(probe.stdout).toContain('trusted by the system CAs: no');

    const configPath = join(env.LOOPGATE_STATE_DIR ?? '', 'client.json5');
    const unconfirmed = await runCli(
      ['gateway', 'probe', '--url', url, '--pin', '--config', configPath],
      { env },
    );
    expect(unconfirmed.code).toBe(2);
    expect(unconfirmed.stderr).toContain('--yes');
    await expect(readFile(configPath, 'utf8')).rejects.toMatchObject({ code: 'ENOENT' });

    const pinned = await runCli(
      ['gateway', 'probe', '--url', url, '--pin', '--yes', '--config', configPath],
      { env },
    );
    expect(pinned.code, pinned.stdout + pinned.stderr).toBe(0);
    expect(JSON.parse(await readFile(configPath, 'utf8'))).toEqual({
      gateway: { remote: { url, tlsFingerprint: gateway.gateway.tlsFingerprint } },
    });
  });
});

describe('loopgate gateway auth rotate-token', () => {
  it('replaces the token: the old one stops working, the new one (from the file) works', async () => {
    const gateway = await startTestGateway();
    try {
      const env = { LOOPGATE_STATE_DIR: gateway.stateDir };
      const result = await runCli(['gateway', 'auth', 'rotate-token', '--url', gateway.url], {
        env,
      });
      expect(result.code).toBe(0);
      expect(result.stdout).toContain('token rotated');
      expect(result.stdout).not.toContain(gateway.token);
      const fresh = (await readFile(join(gateway.stateDir, 'gateway-token'), 'utf8')).trim();
      expect(fresh).not.toBe(gateway.token);

      const old = await runCli(['health', '--url', gateway.url, '--token', gateway.token], { env });
      expect(old.code).toBe(1);
      expect(old.stderr).toContain('UNAUTHORIZED');
      expect((await runCli(['health', '--url', gateway.url], { env })).code).toBe(0);
    } finally {
      await gateway.stop();
    }
  });
});

describeWithRealPart('a real sshd and ssh client', sshdAvailable())('through a real sshd', () => {
  let sshd: SshdHandle;
  let gateway: TestGateway;

  beforeAll(async () => {
    sshd = await startSshd();
    gateway = await startTestGateway();
  });

  afterAll(async () => {
    await gateway?.stop();
    await sshd?.stop();
  });

  describe('loopgate tunnel', () => {
    it('runs in the foreground, prints its state changes, serves the gateway, and ends ssh on Ctrl+C', async () => {
      const registry = await makeTempDir('loopgate-cli-tunnel-');
      const child = spawnCli(
        [
          'tunnel',
          '--ssh',
          sshd.hostAlias,
          '--ssh-config',
          sshd.sshConfigPath,
          '--remote-port',
          String(gateway.port),
          '--local-port',
          '0',
        ],
        { env: { LOOPGATE_STATE_DIR: registry, LOOPGATE_GATEWAY_TOKEN: gateway.token } },
      );
      try {
        const output = await waitForOutput(child, (text) =>
          /gateway reachable at ws:\/\/127\.0\.0\.1:\d+/.test(text),
        );
        expect(output).toContain('tunnel starting');
        expect(output).toMatch(/tunnel up on 127\.0\.0\.1:\d+/);
        const url = /gateway reachable at (ws:\/\/127\.0\.0\.1:\d+)/.exec(output)?.[1] ?? '';
        const client = createGatewayClient({ url, token: gateway.token, retry: false });
        expect((await client.health.query()).ok).toBe(true);
        await client.close();

        const exited = new Promise<number | null>((resolve) =>
          child.once('exit', (code) => resolve(code)),
        );
        child.kill('SIGINT');
        expect(await exited).toBe(0);
        expect(sshProcessesMatching(`:127.0.0.1:${gateway.port}`)).toEqual([]);
      } finally {
        child.kill('SIGKILL');
        await rm(registry, { recursive: true, force: true });
      }
    });

    it('a fatal failure ends the command with exit code 3 and the classified reason', async () => {
      const result = await runCli(
        [
          'tunnel',
          '--ssh',
          sshd.hostAlias,
          '--ssh-config',
          await sshd.variantConfig({ identity: 'wrong' }),
          '--local-port',
          '0',
        ],
        { env: { LOOPGATE_STATE_DIR: await makeTempDir() } },
      );
      expect(result.code).toBe(3);
      expect(result.stdout).toContain('tunnel failed');
      expect(result.stderr).toContain('TUNNEL_FAILED');
      expect(result.stderr).toContain('refused our ssh key');
    });
  });

  describe('client commands with --ssh', () => {
    /**
     * An operator laptop's config: remote mode, the gateway reached through the test sshd
     * (--ssh on the command line names the host; port, ssh config and remote port come from here).
     */
    const writeRemoteConfig = async (
      dir: string,
      remote: { token?: string } = {},
    ): Promise<string> => {
      const configPath = join(dir, 'config.json5');
      const ssh = {
        target: 'unused',
        configFile: sshd.sshConfigPath,
        remotePort: gateway.port,
        localPort: 0,
      };
      await writeFile(
        configPath,
        JSON.stringify({ gateway: { mode: 'remote', remote: { ...remote, ssh } } }),
      );
      return configPath;
    };

    it('loopgate health --ssh reaches the remote gateway through a supervised tunnel and leaves no ssh behind', async () => {
      const dir = await makeTempDir('loopgate-cli-ssh-');
      const configPath = await writeRemoteConfig(dir, { token: gateway.token });
      try {
        const result = await runCli(['health', '--json', '--ssh', sshd.hostAlias], {
          env: { LOOPGATE_CONFIG: configPath, LOOPGATE_STATE_DIR: dir },
        });
        expect(result.stderr).toBe('');
        expect(result.code).toBe(0);
        expect(JSON.parse(result.stdout).ok).toBe(true);
        expect(sshProcessesMatching(`:127.0.0.1:${gateway.port}`)).toEqual([]);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });

    it('loopgate node run --ssh pairs through a supervised tunnel and takes its ssh down on SIGTERM', async () => {
      const dir = await makeTempDir('loopgate-node-ssh-');
      const configPath = await writeRemoteConfig(dir);
      const child = spawnCli(
        [
          'node',
          'run',
          '--ssh',
          sshd.hostAlias,
          '--name',
          'tunnelled',
          '--state-dir',
          join(dir, 'node'),
        ],
        {
          env: { LOOPGATE_CONFIG: configPath, LOOPGATE_STATE_DIR: dir },
        },
      );
      try {
        const output = await waitForOutput(
          child,
          (text) => text.includes('waiting for an operator to approve request'),
          {
            stream: 'stderr',
          },
        );
        const pending = await gateway.gateway.services.nodes.listPending();
        const request = pending.find((p) => p.name === 'tunnelled');
        // the code the node prints in its own output is the one the gateway shows
        expect(output).toContain(`pairing code ${request?.pairingCode}`);
        const exited = new Promise<number | null>((resolve) =>
          child.once('exit', (code) => resolve(code)),
        );
        child.kill('SIGTERM');
        expect(await exited).toBe(0);
        expect(sshProcessesMatching(`:127.0.0.1:${gateway.port}`)).toEqual([]);
      } finally {
        child.kill('SIGKILL');
        await rm(dir, { recursive: true, force: true });
      }
    });
  });
});
