/**
 * start/stop as a lifecycle, over real sockets and a real state dir: a start
 * that fails closes what it opened (no listening socket, no open file, the
 * state lock released) and can be retried; starts and stops never overlap.
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { type AppRouter, createGateway, readStateLock, StateLockedError } from '@loopgate/gateway';
import type { LoopgateConfigInput } from '@loopgate/protocol';
import { createTRPCClient, createWSClient, wsLink } from '@trpc/client';
import superjson from 'superjson';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { openFileDescriptors } from '../src/hardening/index.js';
import { makeTempDir, waitFor } from '../src/index.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function stateDir(): Promise<string> {
  const dir = await makeTempDir('loopgate-lifecycle-');
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function gatewayOn(dir: string, over: LoopgateConfigInput['gateway'] = {}) {
  const gateway = createGateway(
    { gateway: { port: 0, ...over }, logging: { level: 'silent' } },
    { stateDir: dir },
  );
  cleanups.push(() => gateway.stop('test finished'));
  return gateway;
}

/** A plain TCP listener holding a loopback port, as another program would. */
async function occupyPort(): Promise<{ port: number; server: Server }> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, resolve));
  cleanups.push(() => new Promise((resolve) => server.close(resolve)));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  return { port: address.port, server };
}

const listeningServers = () =>
  process.getActiveResourcesInfo().filter((kind) => kind === 'TCPServerWrap').length;

/** A real operator call over the gateway's socket. */
async function health(url: string, tokenPath: string | undefined) {
  const token = (await readFile(tokenPath!, 'utf8')).trim();
  const wsClient = createWSClient({
    url,
    connectionParams: { token },
    WebSocket: WebSocket as unknown as typeof globalThis.WebSocket,
  });
  const client = createTRPCClient<AppRouter>({
    links: [wsLink({ client: wsClient, transformer: superjson })],
  });
  try {
    return await client.health.query();
  } finally {
    wsClient.close();
  }
}

/** Nothing the failed start opened is still open: no socket, no file, no lock. */
async function expectNothingLeft(dir: string, fdsBefore: number, serversBefore: number) {
  expect(listeningServers(), 'listening sockets').toBe(serversBefore);
  await waitFor(() => openFileDescriptors(process.pid) === fdsBefore, {
    what: `open file descriptors back to ${fdsBefore} (now ${openFileDescriptors(process.pid)})`,
  });
  expect((await readStateLock(dir)).state, 'the state-dir lock').toBe('free');
}

describe('gateway lifecycle', () => {
  it('port in use: start rejects with EADDRINUSE, leaves no socket, file or lock, and succeeds once the port is free', async () => {
    const dir = await stateDir();
    const taken = await occupyPort();
    const gateway = gatewayOn(dir, { port: taken.port });
    const fdsBefore = openFileDescriptors(process.pid);
    const serversBefore = listeningServers();

    await expect(gateway.start()).rejects.toMatchObject({ code: 'EADDRINUSE' });
    await expectNothingLeft(dir, fdsBefore, serversBefore);
    expect(gateway.addresses).toEqual([]);
    // Still taken: a retry fails the same way, and cleans up again.
    await expect(gateway.start()).rejects.toMatchObject({ code: 'EADDRINUSE' });
    await expectNothingLeft(dir, fdsBefore, serversBefore);

    await new Promise((resolve) => taken.server.close(resolve));
    await gateway.start();
    expect(gateway.port).toBe(taken.port);
    expect((await readStateLock(dir)).state).toBe('held');
    expect(await health(gateway.url, gateway.tokenPath)).toMatchObject({ ok: true });
  });

  it('state dir locked by a running gateway: start rejects with StateLockedError, opens nothing, and succeeds after the holder stops', async () => {
    const dir = await stateDir();
    const holder = gatewayOn(dir);
    await holder.start();
    const second = gatewayOn(dir);
    const fdsBefore = openFileDescriptors(process.pid);
    const serversBefore = listeningServers();

    await expect(second.start()).rejects.toBeInstanceOf(StateLockedError);
    expect(listeningServers()).toBe(serversBefore);
    await waitFor(() => openFileDescriptors(process.pid) === fdsBefore, { what: 'no new fds' });
    // The holder is untouched and keeps serving.
    expect(await health(holder.url, holder.tokenPath)).toMatchObject({ ok: true });

    await holder.stop();
    await second.start();
    expect(await health(second.url, second.tokenPath)).toMatchObject({ ok: true });
  });

  it('TLS files unreadable: start rejects naming the file, leaves no socket, file or lock', async () => {
    const dir = await stateDir();
    const certPath = join(dir, 'tls', 'missing-cert.pem');
    const keyPath = join(dir, 'tls', 'key.pem');
    await mkdir(join(dir, 'tls'), { recursive: true });
    await writeFile(keyPath, 'not a key', { mode: 0o600 });
    const gateway = gatewayOn(dir, { tls: { enabled: true, certPath, keyPath } });
    const fdsBefore = openFileDescriptors(process.pid);
    const serversBefore = listeningServers();

    await expect(gateway.start()).rejects.toThrow(
      /gateway\.tls\.certPath or keyPath: no such file/,
    );
    await expectNothingLeft(dir, fdsBefore, serversBefore);
  });

  it('a second start while one is under way gets the same promise; stop is idempotent; a stopped gateway starts again', async () => {
    const dir = await stateDir();
    const gateway = gatewayOn(dir);
    const first = gateway.start();
    const second = gateway.start();
    expect(second).toBe(first);
    await first;
    await gateway.start(); // started: resolves at once
    const port = gateway.port;

    const stopping = gateway.stop('twice');
    expect(gateway.stop('twice')).toBe(stopping);
    await stopping;
    await gateway.stop('again');
    expect((await readStateLock(dir)).state).toBe('free');

    // The same object starts again, with its state (events, sessions) open for writing.
    await gateway.start();
    expect(await health(gateway.url, gateway.tokenPath)).toMatchObject({ ok: true });
    const before = gateway.services.events.lastEventId;
    gateway.services.events.emit({ type: 'gateway.started', version: 'restarted' });
    const after = gateway.services.events.lastEventId;
    expect(Number(after)).toBe(Number(before) + 1);
    await gateway.stop('done');
    const log = await readFile(join(dir, 'events.jsonl'), 'utf8');
    expect(log).toContain('"version":"restarted"');
    expect(port).toBeGreaterThan(0);
  });

  it('stop during start waits for the start, then stops: nothing is left listening', async () => {
    const dir = await stateDir();
    const gateway = gatewayOn(dir);
    const serversBefore = listeningServers();
    const starting = gateway.start();
    const stopping = gateway.stop('early');
    await starting;
    await stopping;
    expect(listeningServers()).toBe(serversBefore);
    expect((await readStateLock(dir)).state).toBe('free');
  });
});
