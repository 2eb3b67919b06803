/**
 * Holding the gateway's connection places without ever authenticating (rows
 * 39 and 40 of docs/hardening.md): a real gateway (a real process with a
 * real descriptor limit for row 40), raw sockets from several loopback
 * addresses, and an operator who must still get in.
 */
import { execFileSync } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type GatewayProcess,
  openFileDescriptors,
  openOperatorSocket,
  openRawWebSocket,
  type RawWebSocket,
  resultData,
  startGatewayProcess,
} from '../../src/hardening/index.js';
import { startTestGateway, type TestGateway } from '../../src/index.js';

describe('row 39: sockets that never authenticate and the connection cap', () => {
  const PER_ADDRESS = 10;
  const GLOBAL = 40;
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway({
      config: {
        gateway: {
          limits: { maxConnectionsPerAddress: PER_ADDRESS, maxConnections: GLOBAL },
        },
      },
    });
  });
  afterAll(() => gw.stop());

  it('row 39: a stranger holding every place with silent sockets from 4 addresses does not lock an operator out; its oldest socket makes room', async () => {
    const held: RawWebSocket[] = [];
    try {
      for (let i = 0; i < GLOBAL; i++) {
        const ws = await openRawWebSocket({
          port: gw.port,
          path: '/?connectionParams=1',
          localAddress: `127.0.0.${2 + Math.floor(i / PER_ADDRESS)}`,
        });
        expect(ws.status).toBe(101);
        held.push(ws);
      }
      // The gateway is full of sockets that said nothing; an operator with the token arrives.
      const operator = await openOperatorSocket(gw.url, gw.token, { localAddress: '127.0.0.9' });
      try {
        expect(resultData<{ ok: boolean }>(await operator.call(1, 'health')).ok).toBe(true);
      } finally {
        operator.ws.close();
      }
      // The stranger's oldest socket was the one to go, told why.
      const evicted = await held[0]!.closed;
      expect(evicted.code).toBe(1013);
      expect(evicted.reason).toMatch(/not authenticated/);
      const stillOpen = await Promise.all(
        held
          .slice(1)
          .map((ws) =>
            Promise.race([
              ws.closed.then(() => false),
              new Promise((r) => setTimeout(r, 50, true)),
            ]),
          ),
      );
      expect(stillOpen.every(Boolean)).toBe(true);
    } finally {
      for (const ws of held) ws.destroy();
    }
  });
});

/**
 * Plain TCP connections that never finish (or even start) an HTTP request
 * took no place under any cap, and each costs the gateway a descriptor: at a
 * common soft limit of 1 024 descriptors, one address holding 1 100 of them
 * left no descriptor for anyone else (row 40).
 */
describe('row 40: idle TCP connections from one address and the descriptor limit', () => {
  const FD_LIMIT = 1024;
  const FLOOD = 1100;
  let proc: GatewayProcess;
  beforeAll(async () => {
    proc = await startGatewayProcess();
    // The soft limit many hosts start services with (systemd's default is 1024).
    execFileSync('prlimit', ['--pid', String(proc.pid), `--nofile=${FD_LIMIT}:${FD_LIMIT}`]);
  });
  afterAll(() => proc.stop());

  const operatorHealth = async (): Promise<boolean> => {
    const op = await openOperatorSocket(proc.url, proc.token, { localAddress: '127.0.0.9' });
    try {
      return resultData<{ ok: boolean }>(await op.call(1, 'health')).ok;
    } finally {
      op.ws.close();
    }
  };

  it('row 40: 1 100 idle TCP connections from one address do not use up the gateway’s descriptors: an operator from another address gets in throughout', async () => {
    expect(await operatorHealth()).toBe(true);
    const flood = new Set<Socket>();
    let flooding = true;
    // Topped up as the gateway drops them, as a determined attacker would.
    const topUp = async () => {
      while (flooding) {
        while (flood.size < FLOOD) {
          const socket = connect({ port: proc.port, host: '127.0.0.1', localAddress: '127.0.0.2' });
          socket.on('error', () => {
            // a reset is what the gateway answers past the cap
          });
          socket.once('close', () => flood.delete(socket));
          flood.add(socket);
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    };
    const attacker = topUp();
    try {
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      for (let i = 0; i < 5; i++) {
        expect(await operatorHealth(), `operator attempt ${i + 1} during the flood`).toBe(true);
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      // The gateway holds far fewer of them than its descriptors.
      expect(openFileDescriptors(proc.pid)).toBeLessThan(FD_LIMIT / 2);
    } finally {
      flooding = false;
      await attacker;
      for (const socket of flood) socket.destroy();
    }
  });
});
