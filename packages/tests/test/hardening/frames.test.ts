/**
 * Frames a hostile or broken peer sends: too big, too fragmented, trickled,
 * malformed, abusive batches (HARDENING rows 1, 3, 4, 6).
 */
import { LoopgateConfig } from '@loopgate/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  encodeFrame,
  type GatewayProcess,
  Opcode,
  openOperatorSocket,
  openRawWebSocket,
  resultData,
  sendConnectionParams,
  startGatewayProcess,
} from '../../src/hardening/index.js';
import { startTestGateway, type TestGateway } from '../../src/index.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const AFTER_AUTH_LIMIT = 256 * KiB;

let gw: TestGateway;
beforeAll(async () => {
  gw = await startTestGateway({
    config: { gateway: { limits: { maxPayloadBytes: AFTER_AUTH_LIMIT } } },
  });
});
afterAll(async () => {
  await gw.stop();
});

/** An accepted raw socket that has authenticated and proved it with one answered call. */
async function authenticatedRaw() {
  const ws = await openRawWebSocket({ port: gw.port, path: '/?connectionParams=1' });
  expect(ws.status).toBe(101);
  sendConnectionParams(ws, { token: gw.token });
  ws.sendText(
    JSON.stringify({ id: 1, method: 'query', params: { path: 'health', input: { json: null } } }),
  );
  const answer = JSON.parse(await ws.nextText()) as { id: number; result?: unknown };
  expect(answer.id).toBe(1);
  expect(answer.result).toBeDefined();
  return ws;
}

async function healthFromBystander(): Promise<boolean> {
  const bystander = await openOperatorSocket(gw.url, gw.token);
  const frame = await bystander.call(1, 'health');
  bystander.ws.close();
  return resultData<{ ok: boolean }>(frame).ok;
}

describe('row 01: oversized frames', () => {
  it('row 01: the limits are 64 KiB before auth and a few MiB after by default', () => {
    const limits = LoopgateConfig.parse({}).gateway.limits;
    expect(limits.preAuthMaxPayloadBytes).toBeLessThanOrEqual(64 * KiB);
    expect(limits.maxPayloadBytes).toBeGreaterThanOrEqual(1 * MiB);
    expect(limits.maxPayloadBytes).toBeLessThanOrEqual(16 * MiB);
  });

  it('row 01: a header announcing 64 KiB + 1 before auth closes with 1009 before any payload byte is sent', async () => {
    const ws = await openRawWebSocket({ port: gw.port, path: '/?connectionParams=1' });
    expect(ws.status).toBe(101);
    // Only the frame header: if the gateway waited to buffer the body it would never answer.
    ws.sendFrame({ opcode: Opcode.text, announceLength: 64 * KiB + 1 });
    expect((await ws.closed).code).toBe(1009);
    ws.destroy();
  });

  it('row 01: exactly 64 KiB before auth is still read (refused as bad credentials, not as too big)', async () => {
    const ws = await openRawWebSocket({ port: gw.port, path: '/?connectionParams=1' });
    ws.sendText(
      JSON.stringify({ method: 'connectionParams', data: { token: 'x' } }).padEnd(64 * KiB, ' '),
    );
    const closed = await ws.closed;
    expect(closed.code).toBe(4001);
    ws.destroy();
  });

  it('row 01: a header announcing 100 MiB from a stranger closes with 1009 at once', async () => {
    const ws = await openRawWebSocket({ port: gw.port, path: '/?connectionParams=1' });
    ws.sendFrame({ opcode: Opcode.text, announceLength: 100 * MiB });
    expect((await ws.closed).code).toBe(1009);
    ws.destroy();
  });

  it('row 01: after auth the configured maxPayloadBytes applies: a large request is answered, a header past the limit closes 1009 unbuffered', async () => {
    const ws = await authenticatedRaw();
    // Well over the pre-auth limit, under the configured one.
    const pad = 'p'.repeat(200 * KiB);
    ws.sendText(
      JSON.stringify({
        id: 2,
        method: 'mutation',
        params: { path: 'callMethod', input: { json: { method: 'health', params: { pad } } } },
      }),
    );
    const big = JSON.parse(await ws.nextText()) as {
      id: number;
      result?: { data: { json: { ok: boolean } } };
    };
    expect(big).toMatchObject({ id: 2, result: { data: { json: { ok: true } } } });

    ws.sendFrame({ opcode: Opcode.text, announceLength: AFTER_AUTH_LIMIT + 1 });
    expect((await ws.closed).code).toBe(1009);
    ws.destroy();
    expect(await healthFromBystander()).toBe(true);
  });
});

describe('row 03: fragment and tiny-chunk floods', () => {
  /** The gateway's per-message fragment limit (ws's own default, 16 384, is kept as a ceiling). */
  const FRAGMENT_LIMIT = 1024;

  function fragmented(text: string, parts: number, finish: boolean): Buffer {
    const frames: Buffer[] = [];
    for (let i = 0; i < parts; i++) {
      const payload = i === parts - 1 ? text.slice(i) : (text[i] ?? ' ');
      frames.push(
        encodeFrame({
          opcode: i === 0 ? Opcode.text : Opcode.continuation,
          payload,
          fin: finish && i === parts - 1,
        }),
      );
    }
    return Buffer.concat(frames);
  }

  it('row 03: one fragment more than the limit before auth closes the socket with 1008', async () => {
    const ws = await openRawWebSocket({ port: gw.port, path: '/?connectionParams=1' });
    ws.socket.write(fragmented(' '.repeat(FRAGMENT_LIMIT + 1), FRAGMENT_LIMIT + 1, false));
    // 1008 from the fragment limit: the payload (1 KiB) is far below the 64 KiB size limit.
    expect((await ws.closed).code).toBe(1008);
    ws.destroy();
  });

  it('row 03: after auth a request in exactly the limit of fragments is answered, one more closes with 1008', async () => {
    const ws = await authenticatedRaw();
    const request = JSON.stringify({
      id: 5,
      method: 'query',
      params: { path: 'health', input: { json: null } },
    }).padEnd(FRAGMENT_LIMIT + 10, ' ');
    ws.socket.write(fragmented(request, FRAGMENT_LIMIT, true));
    const answer = JSON.parse(await ws.nextText()) as {
      id: number;
      result: { data: { json: { ok: boolean } } };
    };
    expect(answer).toMatchObject({ id: 5, result: { data: { json: { ok: true } } } });
    ws.socket.write(fragmented(request, FRAGMENT_LIMIT + 1, true));
    expect((await ws.closed).code).toBe(1008);
    ws.destroy();
    expect(await healthFromBystander()).toBe(true);
  });

  it('row 03: ws 16 385-fragment flood is refused too (the library limit is not disabled)', async () => {
    const ws = await openRawWebSocket({ port: gw.port, path: '/?connectionParams=1' });
    ws.socket.write(fragmented(' '.repeat(16 * 1024 + 1), 16 * 1024 + 1, false));
    expect((await ws.closed).code).toBe(1008);
    ws.destroy();
  });

  it('row 03: a request trickled one byte per TCP write, in fragments, is reassembled and answered', async () => {
    const ws = await authenticatedRaw();
    const request = JSON.stringify({
      id: 9,
      method: 'query',
      params: { path: 'health', input: { json: null } },
    });
    const bytes = fragmented(request, request.length, true);
    for (const byte of bytes) {
      await new Promise<void>((resolve) => ws.socket.write(Buffer.of(byte), () => resolve()));
    }
    const answer = JSON.parse(await ws.nextText()) as {
      id: number;
      result: { data: { json: { ok: boolean } } };
    };
    expect(answer).toMatchObject({ id: 9, result: { data: { json: { ok: true } } } });
    ws.destroy();
  });

  describe('memory under a fragment flood (gateway in its own process)', () => {
    let proc: GatewayProcess;
    beforeAll(async () => {
      proc = await startGatewayProcess();
    });
    afterAll(async () => {
      await proc.stop();
    });

    it('row 03: 40 unauthenticated sockets each parking just under the fragment limit grow gateway RSS by less than 24 MiB', async () => {
      const before = await proc.memory();
      const sockets = await Promise.all(
        Array.from({ length: 40 }, () =>
          openRawWebSocket({ port: proc.port, path: '/?connectionParams=1' }),
        ),
      );
      const parked = FRAGMENT_LIMIT - 1;
      await Promise.all(
        sockets.map(async (ws) => {
          // Many small writes, so fragments arrive across many TCP reads.
          const all = fragmented(' '.repeat(parked), parked, false);
          for (let offset = 0; offset < all.length; offset += 700)
            await write(ws.socket, all.subarray(offset, offset + 700));
        }),
      );
      const during = await proc.memory();
      // Every socket was still open, holding its fragments, when memory was sampled.
      let closedEarly = 0;
      for (const ws of sockets) void ws.closed.then(() => closedEarly++);
      await new Promise((resolve) => setImmediate(resolve));
      expect(closedEarly).toBe(0);
      for (const ws of sockets) ws.destroy();
      const grownMiB = (during.rss - before.rss) / MiB;
      expect(grownMiB, `RSS grew ${grownMiB.toFixed(1)} MiB`).toBeLessThan(24);
    });
  });
});

describe('row 04: malformed and hostile requests', () => {
  it('row 04: malformed JSON gets a typed BAD_REQUEST and the socket stays usable', async () => {
    const op = await openOperatorSocket(gw.url, gw.token);
    op.ws.send('{"id": 1, "method": ');
    const err = await op.next();
    expect(err.id).toBeNull();
    expect(err.error?.json.data.gatewayCode).toBe('BAD_REQUEST');
    expect(resultData<{ ok: boolean }>(await op.call(2, 'health')).ok).toBe(true);
    op.ws.close();
  });

  it('row 04: an unknown procedure gets NOT_FOUND for that request id only', async () => {
    const op = await openOperatorSocket(gw.url, gw.token);
    const err = await op.call(3, 'no.such.procedure');
    expect(err.error?.json.data.gatewayCode).toBe('NOT_FOUND');
    expect(resultData<{ ok: boolean }>(await op.call(4, 'health')).ok).toBe(true);
    op.ws.close();
  });

  it('row 04: schema-invalid input gets BAD_REQUEST naming the field', async () => {
    const op = await openOperatorSocket(gw.url, gw.token);
    const err = await op.call(5, 'status', { deep: 'very' });
    expect(err.error?.json.data.gatewayCode).toBe('BAD_REQUEST');
    expect(err.error?.json.data.issues?.[0]?.path).toBe('deep');
    const notAnObject = await op.call(6, 'callMethod', 'health', 'mutation');
    expect(notAnObject.error?.json.data.gatewayCode).toBe('BAD_REQUEST');
    expect(resultData<{ ok: boolean }>(await op.call(7, 'health')).ok).toBe(true);
    op.ws.close();
  });

  it('row 04: over-long strings (a 200 KiB method name, a 200 KiB path) are refused with a bounded error', async () => {
    const op = await openOperatorSocket(gw.url, gw.token);
    const longName = `a${'b'.repeat(200 * KiB)}`;
    const viaCall = await op.call(8, 'callMethod', { method: longName }, 'mutation');
    expect(viaCall.error?.json.data.gatewayCode).toBe('BAD_REQUEST');
    expect(JSON.stringify(viaCall).length).toBeLessThan(4 * KiB);
    const viaPath = await op.call(9, longName);
    expect(viaPath.error?.json.data.gatewayCode).toBe('NOT_FOUND');
    expect(
      JSON.stringify(viaPath).length,
      'the error must not echo the whole input back',
    ).toBeLessThan(4 * KiB);
    expect(resultData<{ ok: boolean }>(await op.call(10, 'health')).ok).toBe(true);
    op.ws.close();
  });

  it('row 04: deeply nested input (100 000 levels) gets a typed error, not a crash', async () => {
    const op = await openOperatorSocket(gw.url, gw.token);
    const depth = 100_000;
    const nested = `${'['.repeat(depth)}${']'.repeat(depth)}`;
    op.ws.send(
      `{"id":11,"method":"mutation","params":{"path":"callMethod","input":{"json":{"method":"health","params":${nested}}}}}`,
    );
    const deepParams = await op.answerTo(11);
    // health takes no input: callMethod hands the params to a procedure without a parser, so
    // the nesting is never walked and health answers — no crash, no stack overflow.
    expect(deepParams.error).toBeUndefined();
    expect(resultData<{ ok: boolean }>(deepParams).ok).toBe(true);
    op.ws.send(`{"id":12,"method":"query","params":{"path":"status","input":{"json":${nested}}}}`);
    const deepInput = await op.answerTo(12);
    expect(deepInput.error?.json.data.gatewayCode).toBe('BAD_REQUEST');
    op.ws.send(
      `{"id":13,"method":"query","params":{"path":"health","input":{"json":null,"meta":${nested}}}}`,
    );
    const deepMeta = await op.answerTo(13);
    expect(deepMeta.id).toBe(13);
    expect(resultData<{ ok: boolean }>(await op.call(14, 'health')).ok).toBe(true);
    op.ws.close();
    expect(await healthFromBystander()).toBe(true);
  });

  it('row 04: a binary frame and a non-object frame get typed errors and the socket stays usable', async () => {
    const op = await openOperatorSocket(gw.url, gw.token);
    op.ws.send(Buffer.from([1, 2, 3]), { binary: true });
    expect((await op.next()).error?.json.data.gatewayCode).toBe('BAD_REQUEST');
    op.ws.send('42');
    expect((await op.next()).error?.json.data.gatewayCode).toBe('BAD_REQUEST');
    op.ws.send('{"id":15,"method":"query","params":null}');
    expect((await op.answerTo(15)).error?.json.data.gatewayCode).toBe('BAD_REQUEST');
    expect(resultData<{ ok: boolean }>(await op.call(16, 'health')).ok).toBe(true);
    op.ws.close();
  });
});

describe('row 06: batch abuse', () => {
  it('row 06: a batch over the cap is refused as a whole, every request in it answered LIMIT_EXCEEDED', async () => {
    const op = await openOperatorSocket(gw.url, gw.token);
    const max = LoopgateConfig.parse({}).gateway.limits.maxBatchSize;
    const before = gw.gateway.services.connections.counts().total;
    const batch = Array.from({ length: max + 1 }, (_, i) => ({
      id: i + 1,
      method: 'mutation',
      params: { path: 'callMethod', input: { json: { method: 'health' } } },
    }));
    op.ws.send(JSON.stringify(batch));
    const answers = await Promise.all(batch.map(() => op.next()));
    expect(answers.map((a) => a.id).sort((a, b) => Number(a) - Number(b))).toEqual(
      batch.map((b) => b.id),
    );
    for (const answer of answers)
      expect(answer.error?.json.data.gatewayCode).toBe('LIMIT_EXCEEDED');
    expect(gw.gateway.services.connections.counts().total).toBe(before);
    expect(resultData<{ ok: boolean }>(await op.call(1000, 'health')).ok).toBe(true);
    op.ws.close();
  });

  it('row 06: a batch at the cap is answered in full', async () => {
    const op = await openOperatorSocket(gw.url, gw.token);
    const max = LoopgateConfig.parse({}).gateway.limits.maxBatchSize;
    const batch = Array.from({ length: max }, (_, i) => ({
      id: i + 1,
      method: 'query',
      params: { path: 'health', input: { json: null } },
    }));
    op.ws.send(JSON.stringify(batch));
    const answers = await Promise.all(batch.map(() => op.next()));
    for (const answer of answers) expect(resultData<{ ok: boolean }>(answer).ok).toBe(true);
    op.ws.close();
  });

  it('row 06: a batch of 100 000 empty entries costs one bounded error', async () => {
    const op = await openOperatorSocket(gw.url, gw.token);
    op.ws.send(`[${'0,'.repeat(99_999)}0]`);
    const answer = await op.next();
    expect(answer.error?.json.data.gatewayCode).toBe('LIMIT_EXCEEDED');
    expect(resultData<{ ok: boolean }>(await op.call(1, 'health')).ok).toBe(true);
    op.ws.close();
  });
});

function write(socket: import('node:net').Socket, chunk: Buffer): Promise<void> {
  return new Promise((resolve, reject) =>
    socket.write(chunk, (error) => (error ? reject(error) : resolve())),
  );
}
