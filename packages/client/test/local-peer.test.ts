import { once } from 'node:events';
import { readFile as realReadFile } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';

const tableReads = vi.hoisted(() => ({ count: 0 }));
vi.mock('node:fs', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs')>();
  return {
    ...fs,
    readFileSync: (...args: Parameters<typeof fs.readFileSync>) => {
      if (String(args[0]).startsWith('/proc/net/tcp')) tableReads.count++;
      return fs.readFileSync(...args);
    },
  };
});

const { foreignLocalPeer } = await import('../src/local-peer.js');

const open: { server?: Server; sockets: Socket[] } = { sockets: [] };

afterEach(async () => {
  for (const socket of open.sockets) socket.destroy();
  open.sockets = [];
  open.server?.close();
});

async function loopbackPair(count: number): Promise<Socket[]> {
  const server = createServer(() => {});
  open.server = server;
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  const sockets = Array.from({ length: count }, () => connect(port, '127.0.0.1'));
  open.sockets.push(...sockets);
  await Promise.all(sockets.map((socket) => once(socket, 'connect')));
  return sockets;
}

describe.runIf(process.platform === 'linux')('foreignLocalPeer', () => {
  it('200 connections checked at once cost one read of the socket tables, not one each', async () => {
    // Guards the fleet: a node host opening many nodes' sockets used to read
    // the whole host's table (tens of thousands of rows) once per socket.
    expect((await realReadFile('/proc/net/tcp', 'latin1')).length).toBeGreaterThan(0);
    const sockets = await loopbackPair(200);
    tableReads.count = 0;
    const owners = await Promise.all(sockets.map((socket) => foreignLocalPeer(socket)));
    // this process's own listener: nobody foreign on any of them
    expect(owners.every((uid) => uid === undefined)).toBe(true);
    expect(owners).toHaveLength(200);
    // /proc/net/tcp and /proc/net/tcp6, once each
    expect(tableReads.count).toBeLessThanOrEqual(2);
    expect(tableReads.count).toBeGreaterThan(0);
  });

  it('judges nothing for a peer that is not on loopback, without reading the tables', async () => {
    tableReads.count = 0;
    const uid = await foreignLocalPeer({
      remoteAddress: '192.0.2.7',
      remotePort: 18789,
      localPort: 40000,
    });
    expect(uid).toBeUndefined();
    expect(tableReads.count).toBe(0);
  });
});
