/**
 * Exposure beyond loopback (HARDENING row 23). Rows 24 (TLS pinning) and 25
 * (SSH tunnel faults) are covered by the remote-access tests; see
 * docs/hardening.md for the mapping.
 */

import { rm } from 'node:fs/promises';
import { connect, createServer, type Server } from 'node:net';
import { createGatewayClient } from '@loopgate/client';
import { GatewayError } from '@loopgate/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type LanAddress,
  makeTempDir,
  obtainLanAddress,
  type RealPart,
  requireRealPart,
  runCli,
  spawnCli,
  waitForOutput,
} from '../../src/index.js';

const TOKEN = 'row-23-explicit-token-0123456789';

/*
 * Every test here dials an address of this machine other than loopback, as
 * another host would: an interface made for the run (as root), or an existing
 * one. Without any, they fail under CI and are skipped elsewhere.
 */
let lan: LanAddress & { availability: RealPart };
beforeAll(async () => {
  lan = await obtainLanAddress();
  if (lan.availability.available)
    process.stdout.write(`[row 23] non-loopback address ${lan.address}: ${lan.origin}\n`);
});
afterAll(async () => {
  await lan?.remove();
});
/** The non-loopback address to dial, or the test fails (CI) / is skipped (elsewhere). */
function lanAddress(context: { skip: (note?: string) => never }): string {
  requireRealPart('a non-loopback IPv4 address (ip link add, as root)', lan.availability, context);
  return lan.address;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '0.0.0.0', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

describe('row 23: bind policy', () => {
  let stateDir: string;
  beforeAll(async () => {
    stateDir = await makeTempDir('loopgate-bind-');
  });
  afterAll(async () => {
    await rm(stateDir, { recursive: true, force: true });
  });

  it('row 23: a lan bind without a token or password refuses to start, says how to fix it, and listens on nothing', async (context) => {
    const address = lanAddress(context);
    const port = await freePort();
    const out = await runCli(['gateway', 'run', '--bind', 'lan', '--port', String(port)], {
      env: { LOOPGATE_STATE_DIR: stateDir, HOME: stateDir },
    });
    expect(out.code).not.toBe(0);
    expect(out.stderr).toMatch(/token|password/i);
    expect(out.stderr).toMatch(/LOOPGATE_GATEWAY_TOKEN|gateway\.auth/);
    expect(await canConnect('127.0.0.1', port)).toBe(false);
    expect(await canConnect(address, port)).toBe(false);
  });

  it('row 23: the same lan bind with an explicit token starts and is reachable beyond loopback', async (context) => {
    const address = lanAddress(context);
    const port = await freePort();
    const child = spawnCli(['gateway', 'run', '--bind', 'lan', '--port', String(port)], {
      env: { LOOPGATE_STATE_DIR: stateDir, HOME: stateDir, LOOPGATE_GATEWAY_TOKEN: TOKEN },
    });
    try {
      await waitForOutput(child, (t) => t.includes('listening'));
      const client = createGatewayClient({
        url: `ws://${address}:${port}`,
        token: TOKEN,
        insecurePlaintext: true,
        retry: false,
      });
      expect((await client.health.query()).ok).toBe(true);
      await client.close();
    } finally {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
    }
  });
});

describe('row 23: the client refuses plain ws:// to another host', () => {
  let listener: Server;
  let dials = 0;
  let port: number;
  beforeAll(async () => {
    // Something listening where the client is pointed, to count whether it dialled at all.
    listener = createServer((socket) => {
      dials++;
      socket.destroy();
    });
    await new Promise<void>((resolve) => listener.listen(0, '0.0.0.0', resolve));
    port = (listener.address() as { port: number }).port;
  });
  afterAll(async () => {
    await new Promise((resolve) => listener.close(resolve));
  });

  it('row 23: the typed client refuses ws:// to a non-loopback host before dialling, naming the safe alternatives', async (context) => {
    const host = lanAddress(context);
    const before = dials;
    const error = await (async () => {
      try {
        const client = createGatewayClient({
          url: `ws://${host}:${port}`,
          token: TOKEN,
          retry: false,
        });
        await client.health.query().finally(() => client.close());
        return undefined;
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(GatewayError);
    expect((error as GatewayError).code).toBe('FORBIDDEN');
    expect((error as GatewayError).message).toMatch(/refusing plain ws:\/\/.*wss:\/\/.*--ssh/);
    expect(dials).toBe(before);
  });

  it('row 23: the CLI refuses it too, without dialling, and dials only with --insecure-plaintext', async (context) => {
    const host = lanAddress(context);
    const before = dials;
    const refused = await runCli(['health', '--url', `ws://${host}:${port}`, '--token', TOKEN]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/refusing plain ws:\/\//);
    expect(refused.stderr).not.toContain(TOKEN);
    expect(dials).toBe(before);
    const allowed = await runCli([
      'health',
      '--url',
      `ws://${host}:${port}`,
      '--token',
      TOKEN,
      '--insecure-plaintext',
    ]);
    // The listener hangs up at once, so the call fails; what matters is that it dialled.
    expect(allowed.code).not.toBe(0);
    expect(dials).toBeGreaterThan(before);
  });
});
