import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import {
  createGatewayClient,
  startTunnel,
  type Tunnel,
  type TunnelOptions,
  type TunnelState,
} from '@loopgate/client';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import {
  describeWithRealPart,
  makeTempDir,
  REPO_ROOT,
  type SshdHandle,
  sourceNodeArgs,
  sshdAvailable,
  sshProcessesMatching,
  startSshd,
  startTestGateway,
  type TestGateway,
  waitFor,
} from '../src/index.js';

/*
 * SSH tunnels against a REAL sshd on 127.0.0.1 (throwaway keys, key-only
 * auth). Locally the suite may be skipped when sshd cannot run; under CI it
 * always runs, and fails if sshd is missing.
 */
const withSshd = describeWithRealPart('a real sshd and ssh client', sshdAvailable());

// Small keepalive values so a frozen server is detected in ~3 s.
const ALIVE_INTERVAL_SEC = 1;
const ALIVE_COUNT_MAX = 2;

withSshd('SSH tunnel supervisor with a real sshd', () => {
  let sshd: SshdHandle;
  let gateway: TestGateway;
  let registryDir: string;
  const tunnels: Tunnel[] = [];
  const servers: Server[] = [];

  beforeAll(async () => {
    sshd = await startSshd();
    gateway = await startTestGateway();
    registryDir = await makeTempDir('loopgate-tunnels-');
  });

  afterEach(async () => {
    await Promise.all(tunnels.splice(0).map((t) => t.close()));
    await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
  });

  afterAll(async () => {
    await gateway?.stop();
    await sshd?.stop();
  });

  function tunnel(options: Partial<TunnelOptions> = {}): { tunnel: Tunnel; states: TunnelState[] } {
    const t = startTunnel({
      target: sshd.hostAlias,
      configFile: sshd.sshConfigPath,
      remotePort: gateway.port,
      localPort: 0,
      registryDir,
      serverAliveIntervalSec: ALIVE_INTERVAL_SEC,
      serverAliveCountMax: ALIVE_COUNT_MAX,
      connectTimeoutSec: 2,
      readyTimeoutMs: 10_000,
      backoff: { baseMs: 100, capMs: 500 },
      ...options,
    });
    tunnels.push(t);
    const states: TunnelState[] = [];
    t.onState((s) => states.push(s));
    return { tunnel: t, states };
  }

  function waitForState(
    t: Tunnel,
    predicate: (s: TunnelState) => boolean,
    timeoutMs = 15_000,
  ): Promise<TunnelState> {
    if (predicate(t.state)) return Promise.resolve(t.state);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        reject(new Error(`tunnel state never matched; last: ${JSON.stringify(t.state)}`));
      }, timeoutMs);
      const off = t.onState((s) => {
        if (!predicate(s)) return;
        clearTimeout(timer);
        off();
        resolve(s);
      });
    });
  }

  async function health(url: string): Promise<boolean> {
    const client = createGatewayClient({ url, token: gateway.token, retry: false });
    try {
      return (await client.health.query()).ok;
    } finally {
      await client.close();
    }
  }

  async function occupy(port = 0): Promise<number> {
    const server = createServer((socket) => socket.destroy());
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    return (server.address() as { port: number }).port;
  }

  it('reaches the gateway through the forward, gated on a health call; close() ends ssh', async () => {
    const { tunnel: t } = tunnel({
      readiness: async (port) => void (await health(`ws://127.0.0.1:${port}`)),
    });
    await t.ready();
    expect(t.state).toMatchObject({ status: 'up', reused: false });
    expect(t.localPort).not.toBe(gateway.port);
    expect(t.url).toBe(`ws://127.0.0.1:${t.localPort}`);
    expect(await health(t.url)).toBe(true);
    expect(sshProcessesMatching(`127.0.0.1:${t.localPort}:127.0.0.1:${gateway.port}`)).toHaveLength(
      1,
    );
    await t.close();
    expect(t.state).toEqual({ status: 'closed' });
    await waitFor(() => sshProcessesMatching(`127.0.0.1:${t.localPort}:`).length === 0, {
      what: 'ssh to exit',
      timeoutMs: 5_000,
    });
  });

  it('a local port held by another program is a conflict (fatal, not retried)', async () => {
    const port = await occupy();
    const { tunnel: t, states } = tunnel({ localPort: port });
    await expect(t.ready()).rejects.toMatchObject({
      code: 'TUNNEL_FAILED',
      details: { kind: 'port-conflict' },
    });
    expect(states.map((s) => s.status)).toEqual(['failed']);
    expect(t.state.status === 'failed' && t.state.reason.message).toContain(
      'not a loopgate tunnel',
    );
  });

  it('with port fallback allowed, a taken port is replaced by a free one', async () => {
    const port = await occupy();
    const { tunnel: t } = tunnel({ localPort: port, allowPortFallback: true });
    await t.ready();
    expect(t.localPort).not.toBe(port);
    expect(await health(t.url)).toBe(true);
  });

  it('a port held by our own earlier tunnel is reused, and taken over when that tunnel goes', async () => {
    const { tunnel: first } = tunnel();
    await first.ready();
    const { tunnel: second } = tunnel({ localPort: first.localPort });
    await second.ready();
    expect(second.state).toEqual({ status: 'up', localPort: first.localPort, reused: true });
    expect(sshProcessesMatching(`127.0.0.1:${first.localPort}:`)).toHaveLength(1);
    expect(await health(second.url)).toBe(true);

    await first.close();
    await waitForState(second, (s) => s.status === 'up' && !s.reused);
    expect(await health(second.url)).toBe(true);
  });

  it('an unknown host key fails at once, classified, without retries', async () => {
    const { tunnel: t, states } = tunnel({
      configFile: await sshd.variantConfig({ knownHosts: 'empty' }),
    });
    await expect(t.ready()).rejects.toMatchObject({
      details: { kind: 'host-key-unknown', fatal: true },
    });
    expect(states.map((s) => s.status)).toEqual(['failed']);
  });

  it('a changed host key fails at once, classified as possible man-in-the-middle', async () => {
    const { tunnel: t, states } = tunnel({
      configFile: await sshd.variantConfig({ knownHosts: 'changed' }),
    });
    await expect(t.ready()).rejects.toMatchObject({ details: { kind: 'host-key-changed' } });
    expect(states.map((s) => s.status)).toEqual(['failed']);
    expect(t.state.status === 'failed' && t.state.reason.message).toMatch(/CHANGED.*SHA256:/);
  });

  it('a wrong client key fails at once as auth-denied', async () => {
    const { tunnel: t, states } = tunnel({
      configFile: await sshd.variantConfig({ identity: 'wrong' }),
    });
    await expect(t.ready()).rejects.toMatchObject({ details: { kind: 'auth-denied' } });
    expect(states.map((s) => s.status)).toEqual(['failed']);
  });

  it('sshd killed: the drop is retried (refused while down) and the tunnel recovers when sshd is back', async () => {
    const { tunnel: t, states } = tunnel({ maxRetries: 50 });
    await t.ready();
    await sshd.kill();
    const dropped = await waitForState(t, (s) => s.status === 'retrying');
    expect(dropped).toMatchObject({ reason: { kind: 'connection-lost', fatal: false } });
    await waitForState(t, (s) => s.status === 'retrying' && s.reason.kind === 'refused');
    await sshd.restart();
    await waitForState(t, (s) => s.status === 'up');
    expect(await health(t.url)).toBe(true);
    expect(states.some((s) => s.status === 'failed')).toBe(false);
  });

  it('sshd frozen: detected within ServerAliveInterval × (CountMax + 1), then recovers after SIGCONT', async () => {
    const { tunnel: t } = tunnel({ maxRetries: 50 });
    await t.ready();
    sshd.freeze();
    const frozenAt = Date.now();
    let detectedAt = 0;
    try {
      const detected = await waitForState(t, (s) => s.status === 'retrying', 15_000);
      detectedAt = Date.now();
      expect(detected).toMatchObject({ reason: { kind: 'server-unresponsive' } });
    } finally {
      sshd.thaw();
    }
    // Generous bound: the keepalive budget plus scheduling slack on a busy machine.
    expect(detectedAt - frozenAt).toBeLessThan(
      ALIVE_INTERVAL_SEC * (ALIVE_COUNT_MAX + 1) * 1000 + 4_000,
    );
    await waitForState(t, (s) => s.status === 'up');
    expect(await health(t.url)).toBe(true);
  });

  it.each(['SIGKILL', 'SIGTERM', 'SIGINT'] as const)(
    'ending the client process with %s leaves no ssh process behind',
    async (signal) => {
      const dir = await makeTempDir('loopgate-orphan-');
      const script = join(dir, 'hold-tunnel.mts');
      const tunnelModule = join(REPO_ROOT, 'packages/client/src/tunnel/index.ts');
      await writeFile(
        script,
        `import { startTunnel } from ${JSON.stringify(tunnelModule)};
const t = startTunnel(${JSON.stringify({
          target: sshd.hostAlias,
          configFile: sshd.sshConfigPath,
          remotePort: gateway.port,
          localPort: 0,
          registryDir,
        })});
await t.ready();
console.log('up ' + t.localPort);
setInterval(() => {}, 1000);
`,
      );
      const child = spawn(process.execPath, sourceNodeArgs(script), {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (d) => {
        stderr += d;
      });
      const localPort = await new Promise<number>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`client never came up: ${stderr}`)),
          15_000,
        );
        child.stdout.on('data', (d: Buffer) => {
          const match = /up (\d+)/.exec(d.toString());
          if (match) {
            clearTimeout(timer);
            resolve(Number(match[1]));
          }
        });
      });
      const forward = `127.0.0.1:${localPort}:127.0.0.1:${gateway.port}`;
      expect(sshProcessesMatching(forward)).toHaveLength(1);
      expect(await health(`ws://127.0.0.1:${localPort}`)).toBe(true);

      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill(signal);
      await exited;
      await waitFor(() => sshProcessesMatching(forward).length === 0, {
        what: 'the orphaned ssh to exit',
        timeoutMs: 5_000,
      });
    },
  );
});

withSshd('SSH tunnel supervisor without a reachable server', () => {
  it('a missing ssh binary is fatal', async () => {
    const registryDir = await makeTempDir('loopgate-tunnels-');
    const t = startTunnel({
      target: 'me@example.invalid',
      sshBinary: '/nonexistent/ssh',
      localPort: 0,
      registryDir,
    });
    await expect(t.ready()).rejects.toMatchObject({ details: { kind: 'ssh-missing' } });
    await t.close();
  });

  it('a refused ssh port is retried with backoff, then given up after maxRetries', async () => {
    const registryDir = await makeTempDir('loopgate-tunnels-');
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as { port: number }).port;
    await new Promise((r) => closed.close(r));
    const t = startTunnel({
      target: '127.0.0.1',
      port,
      localPort: 0,
      registryDir,
      sshOptions: { UserKnownHostsFile: '/dev/null' },
      maxRetries: 2,
      backoff: { baseMs: 50, capMs: 100 },
    });
    const states: TunnelState[] = [];
    t.onState((s) => states.push(s));
    await expect(t.ready()).rejects.toMatchObject({ details: { kind: 'refused' } });
    expect(states.map((s) => s.status)).toEqual([
      'retrying',
      'starting',
      'retrying',
      'starting',
      'failed',
    ]);
    await t.close();
  });
});
