/**
 * An unpaired OpenClaw node (any key made up on the spot) stepping out of
 * its lane (row 42 of docs/hardening.md): on the tRPC door such a peer is
 * closed at its first frame that is not its pairing request; the OpenClaw
 * door must hold it as tightly. A real gateway, a client written from the
 * protocol docs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../../src/index.js';
import { newOpenClawDevice, OpenClawSocket } from '../../src/openclaw-client.js';

describe('row 42: an unpaired OpenClaw node outside its lane', () => {
  let gw: TestGateway;
  let url: string;
  const sockets: OpenClawSocket[] = [];
  beforeAll(async () => {
    gw = await startTestGateway({ config: { gateway: { openclaw: { enabled: true } } } });
    url = `${gw.url}/openclaw`;
  });
  afterAll(async () => {
    for (const s of sockets) s.close();
    await gw.stop();
  });

  const waitingNode = async (): Promise<OpenClawSocket> => {
    const socket = new OpenClawSocket(url);
    sockets.push(socket);
    const hello = await socket.connect({ role: 'node', device: newOpenClawDevice() });
    expect(hello.payload).toMatchObject({ type: 'hello-ok', auth: { role: 'node' } });
    return socket;
  };

  it('row 42: a method this endpoint does not serve, from an unpaired node, is NOT_PAIRED and closes it 4003', async () => {
    const socket = await waitingNode();
    const answer = await socket.request('chat.send', { text: 'hi' });
    expect(answer.error).toMatchObject({ code: 'NOT_PAIRED' });
    expect((await socket.closed).code).toBe(4003);
  });

  it('row 42: a second connect from an unpaired node is NOT_PAIRED and closes it 4003', async () => {
    const socket = await waitingNode();
    const again = await socket.request('connect', { minProtocol: 4, maxProtocol: 4 });
    expect(again.error).toMatchObject({ code: 'NOT_PAIRED' });
    expect((await socket.closed).code).toBe(4003);
  });

  it('row 42: an unpaired node looping 60 KiB housekeeping frames is closed after 32; an operator is answered throughout', async () => {
    const socket = await waitingNode();
    // Under the 64 KiB frame limit a waiting node stays on, and as costly to parse as it gets.
    const filler = Array.from({ length: 60 }, () => `[${'1,'.repeat(500)}1]`).join(',');
    const frame = (i: number) =>
      `{"type":"req","id":"h${i}","method":"node.event","params":{"event":"x","payload":[${filler}]}}`;
    for (let i = 0; i < 400; i++) socket.sendRaw(frame(i));
    const closed = await Promise.race([
      socket.closed,
      new Promise<{ code: number; reason: string }>((resolve) =>
        setTimeout(resolve, 10_000, { code: 0, reason: 'still open 10 s after the flood' }),
      ),
    ]);
    expect(closed.code).toBe(4003);
    expect(closed.reason).toMatch(/NOT_PAIRED/);
    // 32 tolerated, the 33rd answered as it closes the socket; the rest never read.
    const answered = socket.frames.filter((f) => f.type === 'res' && f.id?.startsWith('h'));
    expect(answered.length).toBe(33);

    const operator = new OpenClawSocket(url);
    sockets.push(operator);
    await operator.connect({ role: 'operator', token: gw.token });
    expect((await operator.request('health')).payload).toMatchObject({ ok: true });
  });
});
