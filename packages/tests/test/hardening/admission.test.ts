/**
 * What is decided before a socket becomes a WebSocket: browser origins, the
 * Host header, connection floods, and peers trickling their headers
 * (HARDENING rows 8, 9, 11, 12).
 */
import { connect, type Socket } from 'node:net';
import { LoopgateConfig } from '@loopgate/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type GatewayProcess,
  openFileDescriptors,
  openOperatorSocket,
  openRawWebSocket,
  type RawWebSocket,
  resultData,
  sendConnectionParams,
  startGatewayProcess,
} from '../../src/hardening/index.js';
import { startTestGateway, type TestGateway, waitFor } from '../../src/index.js';

async function upgradeStatus(
  port: number,
  headers: Record<string, string | null>,
  localAddress?: string,
): Promise<RawWebSocket> {
  return openRawWebSocket({
    port,
    path: '/?connectionParams=1',
    headers,
    ...(localAddress ? { localAddress } : {}),
  });
}

describe('row 08 and row 09: browser origin and Host checks', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway({
      config: {
        gateway: {
          auth: { allowedOrigins: ['https://dashboard.example'], allowedHosts: ['gateway.lan'] },
        },
      },
    });
  });
  afterAll(async () => {
    await gw.stop();
  });

  async function expectRefused(
    headers: Record<string, string | null>,
    status: number,
    body: RegExp,
  ): Promise<void> {
    const before = gw.gateway.services.connections.counts().total;
    const ws = await upgradeStatus(gw.port, headers);
    expect(ws.status, `headers ${JSON.stringify(headers)}`).toBe(status);
    expect(ws.headers.upgrade).toBeUndefined();
    expect(ws.body).toMatch(body);
    await ws.ended;
    expect(gw.gateway.services.connections.counts().total).toBe(before);
  }

  it('row 08: a disallowed Origin gets 403 before the upgrade, naming the origin and the setting', async () => {
    await expectRefused(
      { Origin: 'https://evil.example' },
      403,
      /Origin "https:\/\/evil\.example" is not allowed.*allowedOrigins/,
    );
    // A page served by some other local dev server is still a different origin.
    await expectRefused({ Origin: 'http://localhost:3000' }, 403, /not allowed/);
  });

  it('row 08: the literal Origin "null" (sandboxed iframe, file://) gets 403', async () => {
    await expectRefused({ Origin: 'null' }, 403, /Origin "null"/);
  });

  it('row 08: a malformed Origin gets 403', async () => {
    await expectRefused({ Origin: 'not a url' }, 403, /not allowed/);
  });

  it('row 08: no Origin (CLI, native clients) is accepted, and so is a configured origin', async () => {
    const native = await upgradeStatus(gw.port, {});
    expect(native.status).toBe(101);
    native.destroy();
    const configured = await upgradeStatus(gw.port, { Origin: 'https://dashboard.example' });
    expect(configured.status).toBe(101);
    configured.destroy();
  });

  it('row 08: a refused browser never authenticates even with the right token', async () => {
    const ws = await upgradeStatus(gw.port, { Origin: 'https://evil.example' });
    expect(ws.status).toBe(403);
    // The socket is plain HTTP and already ended; nothing the page sends can reach the RPC layer.
    await ws.ended;
    await expect(
      openOperatorSocket(gw.url, gw.token, { headers: { Origin: 'https://evil.example' } }),
    ).rejects.toThrow(/HTTP 403/);
  });

  it('row 09: a Host that is not loopback, a bound address or a configured name gets 421', async () => {
    await expectRefused(
      { Host: 'evil.example' },
      421,
      /Host "evil\.example" is not this gateway.*allowedHosts/,
    );
    await expectRefused({ Host: `evil.example:${gw.port}` }, 421, /evil\.example/);
    // Names that only look like loopback are rebinding targets too.
    await expectRefused({ Host: `127.0.0.1.evil.example:${gw.port}` }, 421, /not this gateway/);
    await expectRefused({ Host: `localhost.evil.example:${gw.port}` }, 421, /not this gateway/);
  });

  it('row 09: a missing or malformed Host gets 400', async () => {
    await expectRefused({ Host: null }, 400, /Host/);
    await expectRefused({ Host: 'a b c' }, 400, /Host/);
  });

  it('row 09: loopback names and addresses and a configured name are accepted', async () => {
    for (const host of [
      `127.0.0.1:${gw.port}`,
      `localhost:${gw.port}`,
      `[::1]:${gw.port}`,
      'gateway.lan',
      `gateway.lan:${gw.port}`,
    ]) {
      const ws = await upgradeStatus(gw.port, { Host: host });
      expect(ws.status, host).toBe(101);
      ws.destroy();
    }
  });
});

describe('row 11: connection flood', () => {
  const PER_ADDRESS = 20;
  const GLOBAL = 30;
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway({
      config: {
        gateway: { limits: { maxConnectionsPerAddress: PER_ADDRESS, maxConnections: GLOBAL } },
      },
    });
  });
  afterAll(async () => {
    await gw.stop();
  });

  /** Authenticates an accepted raw socket as the operator: a place an upgrade cannot take over (row 39). */
  const authenticated = async (ws: RawWebSocket): Promise<RawWebSocket> => {
    expect(ws.status).toBe(101);
    sendConnectionParams(ws, { token: gw.token });
    ws.sendText('PING');
    expect(await ws.nextText()).toBe('PONG');
    return ws;
  };

  it('row 11: the per-address cap answers 429 and the global cap 503, and both free up again on close', async () => {
    const held: RawWebSocket[] = [];
    try {
      for (let i = 0; i < PER_ADDRESS; i++) {
        const ws = await upgradeStatus(gw.port, {});
        held.push(await authenticated(ws));
      }
      const overAddress = await upgradeStatus(gw.port, {});
      expect(overAddress.status).toBe(429);
      expect(overAddress.headers['retry-after']).toBeDefined();
      expect(overAddress.body).toMatch(/too many connections from this address/);

      // Another peer address is still welcome until the whole gateway is full.
      for (let i = PER_ADDRESS; i < GLOBAL; i++) {
        const ws = await upgradeStatus(gw.port, {}, '127.0.0.2');
        held.push(await authenticated(ws));
      }
      const overGlobal = await upgradeStatus(gw.port, {}, '127.0.0.3');
      expect(overGlobal.status).toBe(503);
      expect(overGlobal.body).toMatch(/connection limit/);

      // Closing one frees its place.
      const leaving = held.shift() as RawWebSocket;
      leaving.destroy();
      await leaving.ended;
      const again = await waitForStatus(gw.port, 101, '127.0.0.3');
      held.push(again);
    } finally {
      for (const ws of held) ws.destroy();
    }
  });

  it('row 11: a burst of 600 simultaneous dials is answered 101/429/503, never a crash, and the gateway keeps serving', async () => {
    const dials = await Promise.allSettled(
      Array.from({ length: 600 }, (_, i) => upgradeStatus(gw.port, {}, `127.0.0.${10 + (i % 4)}`)),
    );
    const statuses = new Map<number | string, number>();
    for (const dial of dials) {
      const key = dial.status === 'fulfilled' ? dial.value.status : 'reset';
      statuses.set(key, (statuses.get(key) ?? 0) + 1);
    }
    expect(
      [...statuses.keys()].every((k) => k === 101 || k === 429 || k === 503 || k === 'reset'),
    ).toBe(true);
    // Silent sockets give way to newer dials at the cap (row 39), so more than GLOBAL may be
    // accepted over the burst, but at most GLOBAL stay: every other one was closed 1013.
    const accepted = dials.flatMap((d) =>
      d.status === 'fulfilled' && d.value.status === 101 ? [d.value] : [],
    );
    const settled = await Promise.all(
      accepted.map((ws) =>
        Promise.race([
          ws.closed.then((c) => c.code),
          new Promise<'open'>((r) => setTimeout(r, 500, 'open')),
        ]),
      ),
    );
    expect(settled.filter((s) => s === 'open').length).toBeLessThanOrEqual(GLOBAL);
    expect(settled.every((s) => s === 'open' || s === 1013)).toBe(true);
    for (const dial of dials) if (dial.status === 'fulfilled') dial.value.destroy();

    const op = await waitForOperator(gw);
    expect(resultData<{ ok: boolean }>(await op.call(1, 'health')).ok).toBe(true);
    op.ws.close();
  });
});

describe('row 11 and row 12: peers that never read what they are told', () => {
  let proc: GatewayProcess;
  beforeAll(async () => {
    proc = await startGatewayProcess({
      config: { gateway: { limits: { headersTimeoutMs: 1_000, maxConnectionsPerAddress: 5 } } },
    });
  });
  afterAll(async () => {
    await proc.stop();
  });

  it('row 11: 200 refused dials (429, 403) whose peers never hang up leave no socket open in the gateway', async () => {
    // Fill this address's cap so every further dial from it is refused with 429.
    const held = await Promise.all(
      Array.from({ length: 5 }, () => openRawWebSocket({ port: proc.port, path: '/' })),
    );
    const baseline = openFileDescriptors(proc.pid);
    const refused = [
      ...Array.from({ length: 100 }, () => neverClosingPeer(proc.port, {})),
      ...Array.from({ length: 100 }, () =>
        neverClosingPeer(proc.port, { Origin: 'https://evil.example' }, '127.0.0.2'),
      ),
    ];
    const answers = await Promise.all(refused.map((peer) => peer.answered));
    expect(answers.filter((a) => a.startsWith('HTTP/1.1 429')).length).toBe(100);
    expect(answers.filter((a) => a.startsWith('HTTP/1.1 403')).length).toBe(100);
    // The peers keep their end open for ever; the gateway must not wait for them.
    await waitFor(() => openFileDescriptors(proc.pid) <= baseline + 2, {
      timeoutMs: 5_000,
      what: `gateway fds back to ${baseline} (now ${openFileDescriptors(proc.pid)})`,
    });
    for (const peer of refused) peer.socket.destroy();
    for (const ws of held) ws.destroy();
  });

  it('row 12: slowloris peers that never read are dropped, not left half-open', async () => {
    const baseline = openFileDescriptors(proc.pid);
    const trickles = Array.from({ length: 20 }, () => trickleHeaders(proc.port));
    // A peer that keeps writing only notices the cut once the gateway destroyed its end (a FIN alone would not stop it).
    await Promise.all(trickles.map((t) => t.cut));
    await waitFor(() => openFileDescriptors(proc.pid) <= baseline + 2, {
      timeoutMs: 5_000,
      what: `gateway fds back to ${baseline} (now ${openFileDescriptors(proc.pid)})`,
    });
    for (const t of trickles) t.stop();
  });
});

describe('row 12: slowloris on upgrade', () => {
  const HEADERS_TIMEOUT_MS = 1_000;
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway({
      config: { gateway: { limits: { headersTimeoutMs: HEADERS_TIMEOUT_MS } } },
    });
  });
  afterAll(async () => {
    await gw.stop();
  });

  it('row 12: the shipped headers timeout is at most 5 s', () => {
    expect(LoopgateConfig.parse({}).gateway.limits.headersTimeoutMs).toBeLessThanOrEqual(5_000);
  });

  it('row 12: with the shipped settings a trickling peer is cut off within ~5 s', async () => {
    const shipped = await startTestGateway();
    try {
      const trickle = trickleHeaders(shipped.port);
      const cutAfter = await trickle.cut;
      trickle.stop();
      // 5 s timeout + the connection sweep (every 500 ms at that timeout) + slack.
      expect(cutAfter).toBeLessThan(6_500);
      expect(trickle.finished()).toBe(false);
    } finally {
      await shipped.stop();
    }
  }, 15_000);

  it('row 12: 50 peers trickling header bytes are all cut off shortly after headersTimeoutMs', async () => {
    const started = Date.now();
    const trickles = Array.from({ length: 50 }, () => trickleHeaders(gw.port));
    const cutAfter = await Promise.all(trickles.map((t) => t.cut));
    for (const t of trickles) t.stop();
    const slowest = Math.max(...cutAfter);
    // Generous bound: the timeout plus a check interval; never the 60 s Node default.
    expect(slowest, `slowest cut after ${slowest} ms`).toBeLessThan(HEADERS_TIMEOUT_MS + 3_000);
    expect(Date.now() - started).toBeLessThan(10_000);
    // Each of them kept sending until the gateway hung up: none finished its request.
    expect(trickles.every((t) => !t.finished())).toBe(true);

    const op = await openOperatorSocket(gw.url, gw.token);
    expect(resultData<{ ok: boolean }>(await op.call(1, 'health')).ok).toBe(true);
    op.ws.close();
  }, 15_000);
});

/**
 * A raw TCP peer that sends a complete upgrade request, reads the answer to
 * its end, and never closes its own side: the gateway must drop the socket
 * itself rather than wait (HTTP servers allow half-open sockets).
 */
function neverClosingPeer(
  port: number,
  headers: Record<string, string>,
  localAddress?: string,
): { socket: Socket; answered: Promise<string> } {
  const socket = connect({
    host: '127.0.0.1',
    port,
    allowHalfOpen: true,
    ...(localAddress ? { localAddress } : {}),
  });
  socket.on('error', () => {});
  const extra = Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('');
  socket.write(
    `GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n${extra}\r\n`,
  );
  let text = '';
  socket.on('data', (chunk: Buffer) => {
    text += chunk.toString('latin1');
  });
  const answered = new Promise<string>((resolve) => {
    socket.once('end', () => resolve(text));
    socket.once('close', () => resolve(text));
  });
  return { socket, answered };
}

/** A raw TCP peer sending an upgrade request one header byte every 100 ms; `cut` resolves with ms until the gateway hung up. */
function trickleHeaders(port: number): { cut: Promise<number>; stop(): void; finished(): boolean } {
  const socket: Socket = connect({ host: '127.0.0.1', port });
  const request = Buffer.from(
    `GET /?connectionParams=1 HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nX-Padding: ${'a'.repeat(400)}\r\n\r\n`,
  );
  let sent = 0;
  const started = Date.now();
  socket.on('error', () => {});
  const timer = setInterval(() => {
    if (sent < request.length && socket.writable) socket.write(request.subarray(sent, ++sent));
  }, 100);
  const cut = new Promise<number>((resolve) =>
    socket.once('close', () => {
      clearInterval(timer);
      resolve(Date.now() - started);
    }),
  );
  return {
    cut,
    stop: () => {
      clearInterval(timer);
      socket.destroy();
    },
    finished: () => sent >= request.length,
  };
}

async function waitForStatus(
  port: number,
  status: number,
  localAddress: string,
): Promise<RawWebSocket> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const ws = await upgradeStatus(port, {}, localAddress);
    if (ws.status === status) return ws;
    ws.destroy();
    if (Date.now() > deadline)
      throw new Error(`upgrade still answered ${ws.status}, expected ${status}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function waitForOperator(gw: TestGateway) {
  const deadline = Date.now() + 5_000;
  for (;;) {
    try {
      return await openOperatorSocket(gw.url, gw.token);
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}
