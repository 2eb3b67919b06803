import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createGateway, type Gateway } from '@loopgate/gateway';
import JSON5 from 'json5';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
// the real-sshd harness and the real-part rule of the cross-package tests (node
// built-ins and vitest only, so the dashboard need not depend on that package)
import { describeWithRealPart } from '../../../packages/tests/src/real-parts.js';
import { type SshdHandle, sshdAvailable, startSshd } from '../../../packages/tests/src/sshd.js';
import { type ConnectTarget, DashboardController } from '../src/controller/index.js';
import { openDashboardLog } from '../src/log/dashboard-log.js';
import { gatewayPortFactory } from '../src/open-gateway.js';
import {
  createDashboardStore,
  type DashboardState,
  type DashboardStore,
  initialState,
} from '../src/state/index.js';

/**
 * How the dashboard reaches a remote gateway, through the real port factory:
 * a wss:// gateway with its self-signed certificate (pinned, mispinned, and
 * pinned on first use from the Connection pane), and a real SSH tunnel.
 */

function until(
  store: DashboardStore,
  what: string,
  check: (state: DashboardState) => boolean,
  timeoutMs = 15_000,
): Promise<DashboardState> {
  return new Promise((resolve, reject) => {
    const done = () => {
      if (!check(store.getState())) return;
      clearTimeout(timer);
      unsubscribe();
      resolve(store.getState());
    };
    const timer = setTimeout(() => {
      unsubscribe();
      const s = store.getState().connection;
      reject(
        new Error(
          `timed out waiting for ${what}; link ${JSON.stringify(s.link)}, transport ${JSON.stringify(s.transport)}`,
        ),
      );
    }, timeoutMs);
    const unsubscribe = store.subscribe(done);
    done();
  });
}

let dir: string;
let gateway: Gateway;
let token: string;
let controller: DashboardController | undefined;

async function startGateway(tls: boolean): Promise<void> {
  gateway = createGateway(
    { gateway: { port: 0, tls: { enabled: tls } }, logging: { level: 'silent' } },
    { stateDir: join(dir, 'gateway') },
  );
  await gateway.start();
  token = (await readFile(gateway.tokenPath!, 'utf8')).trim();
}

function dashboard(target: ConnectTarget): DashboardStore {
  const store = createDashboardStore(
    initialState({
      columns: 100,
      rows: 30,
      readOnly: false,
      target: target.url ?? 'ssh',
      configPath: join(dir, 'config.json5'),
      settings: { mode: 'local', url: '', ssh: undefined, tlsFingerprint: [] },
    }),
  );
  controller = new DashboardController({
    store,
    openPort: gatewayPortFactory({ configPath: undefined, log: openDashboardLog(undefined) }),
    target,
    log: openDashboardLog(undefined),
    onQuit: () => {},
    pollMs: 200,
  });
  controller.start();
  return store;
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'loopgate-dashboard-remote-'));
  process.env.LOOPGATE_STATE_DIR = join(dir, 'client');
});

afterEach(async () => {
  await controller?.dispose();
  controller = undefined;
  await gateway?.stop('test finished');
  delete process.env.LOOPGATE_STATE_DIR;
  await rm(dir, { recursive: true, force: true });
});

describe('a wss:// gateway', () => {
  it('connects with the right pin and shows the presented certificate matching it', async () => {
    await startGateway(true);
    const fingerprint = gateway.tlsFingerprint!;
    const store = dashboard({ url: gateway.url, token, tlsFingerprint: [fingerprint] });
    const state = await until(
      store,
      'open with the certificate seen',
      (s) =>
        s.connection.link.state === 'open' && s.connection.transport.tls.presented !== undefined,
    );
    expect(state.connection.transport.tls).toEqual({
      enabled: true,
      presented: fingerprint,
      pinned: [fingerprint],
    });
  });

  it('shows a pin mismatch with the expected and the presented fingerprints, and does not retry', async () => {
    await startGateway(true);
    const wrong = Array.from({ length: 32 }, () => '00').join(':');
    const store = dashboard({ url: gateway.url, token, tlsFingerprint: [wrong] });
    const state = await until(
      store,
      'pin mismatch',
      (s) => s.connection.link.state === 'pin-mismatch',
    );
    expect(state.connection.link).toEqual({
      state: 'pin-mismatch',
      expected: [wrong],
      presented: gateway.tlsFingerprint,
    });
  });

  it('pins on first use after the operator confirms: the pin is saved to gateway.remote and the link opens', async () => {
    await startGateway(true);
    // the configured remote is this gateway, not pinned yet
    const { writeFile } = await import('node:fs/promises');
    await writeFile(
      join(dir, 'config.json5'),
      `// remote gateway\n{ gateway: { mode: 'remote', remote: { url: '${gateway.url}' } } }\n`,
    );
    const store = dashboard({ url: gateway.url, token });
    let state = await until(
      store,
      'the settings and the presented certificate',
      (s) =>
        s.connection.saved.url === gateway.url &&
        s.connection.transport.tls.presented !== undefined,
    );
    // a self-signed certificate is not trusted by the system CAs: no link without a pin
    expect(state.connection.link.state).not.toBe('open');
    const presented = state.connection.transport.tls.presented!;
    expect(presented).toBe(gateway.tlsFingerprint);

    controller!.perform({ kind: 'pin-fingerprint', fingerprint: presented });
    state = await until(store, 'open with the pin', (s) => s.connection.link.state === 'open');
    expect(state.connection.transport.tls.pinned).toEqual([presented]);
    const text = await readFile(join(dir, 'config.json5'), 'utf8');
    expect(text).toContain('// remote gateway');
    expect(JSON5.parse(text).gateway.remote).toEqual({
      url: gateway.url,
      tlsFingerprint: presented,
    });
  });
});

describeWithRealPart('a real sshd and ssh client', sshdAvailable())('through an SSH tunnel', () => {
  let server: SshdHandle;
  beforeEach(async () => {
    server = await startSshd();
  });
  afterEach(async () => {
    await server?.stop();
  });

  it('shows the tunnel up, reaches the gateway through it, and recovers after a tunnel restart', async () => {
    await startGateway(false);
    const localPort = await freePort();
    const store = dashboard({
      token,
      ssh: { target: server.hostAlias, localPort, remotePort: gateway.port },
      sshConfigFile: server.sshConfigPath,
    });
    let state = await until(
      store,
      'open through the tunnel, with the status read through it',
      (s) =>
        s.connection.link.state === 'open' &&
        s.connection.transport.tunnel?.state === 'up' &&
        s.gateway.status !== undefined,
    );
    expect(state.connection.transport.via).toBe('tunnel');
    expect(state.connection.target).toBe(`ws://127.0.0.1:${localPort}`);
    expect(state.gateway.status?.bind.port).toBe(gateway.port);

    controller!.perform({ kind: 'restart-tunnel' });
    await until(
      store,
      'the tunnel going down',
      (s) => s.connection.transport.tunnel?.state !== 'up' || s.connection.link.state !== 'open',
    );
    state = await until(
      store,
      'open again through the new tunnel',
      (s) => s.connection.link.state === 'open' && s.connection.transport.tunnel?.state === 'up',
      30_000,
    );
    expect(state.connection.transport.via).toBe('tunnel');
  }, 90_000);
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      srv.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}
