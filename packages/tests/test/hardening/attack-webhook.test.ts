/**
 * A webhook sender that holds the secret names any `from` it likes, and each
 * new one used to be a new session — a transcript on disk and a line in
 * `sessions list` — without bound (row 47 of docs/hardening.md). Real
 * gateway, real HTTP.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postSignedWebhook } from '../../src/hardening/index.js';
import { startTestGateway, type TestGateway } from '../../src/index.js';

describe('row 47: webhook sessions without bound', () => {
  const SECRET = 'webhook-secret-for-the-session-cap';
  const PATH = '/hooks/in';
  const CAP = 5;
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway({
      config: { channels: { webhook: { secret: SECRET, path: PATH, maxSessions: CAP } } },
    });
  });
  afterAll(() => gw.stop());

  const send = (from: string, text: string) =>
    postSignedWebhook({
      port: gw.port,
      path: PATH,
      secret: SECRET,
      body: JSON.stringify({ from, text }),
    });

  it('row 47: 40 new senders under one secret get 5 sessions, the rest 429 LIMIT_EXCEEDED naming channels.webhook.maxSessions; a known sender goes on in its session', async () => {
    const answers = [];
    for (let i = 0; i < 40; i++) answers.push(await send(`sender-${i}`, 'hello'));

    const accepted = answers.slice(0, CAP);
    for (const answer of accepted)
      expect(answer).toMatchObject({ status: 202, body: { ok: true } });
    for (const refused of answers.slice(CAP)) {
      expect(refused).toMatchObject({ status: 429, body: { ok: false, code: 'LIMIT_EXCEEDED' } });
      expect(String(refused.body.error)).toContain('channels.webhook.maxSessions = 5');
    }
    expect(gw.gateway.services.sessions.list({ channel: 'webhook' }).total).toBe(CAP);

    const again = await send('sender-0', 'still here');
    expect(again).toMatchObject({
      status: 202,
      body: { ok: true, sessionId: accepted[0]?.body.sessionId },
    });
  });
});
