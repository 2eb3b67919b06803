/**
 * `loopgate sessions delete` as a real process against a real gateway: the
 * webhook channel over real HTTP at its session cap, a stand-in model
 * speaking the OpenAI streaming format for the agent's runs.
 */
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { createGatewayClient, type GatewayClient } from '@loopgate/client';
import type { GatewayEvent } from '@loopgate/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createGate,
  type FakeChatCompletions,
  openaiAgentConfig,
  startFakeChatCompletions,
  textReply,
} from '../src/fakes/index.js';
import { postSignedWebhook } from '../src/hardening/index.js';
import { runCli, startTestGateway, type TestGateway } from '../src/index.js';

const SECRET = 'webhook-secret-for-sessions-delete';
const PATH = '/hooks/in';
const CAP = 2;

let model: FakeChatCompletions;
let gw: TestGateway;
let op: GatewayClient;
let env: NodeJS.ProcessEnv;
beforeAll(async () => {
  model = await startFakeChatCompletions();
  gw = await startTestGateway({
    config: {
      channels: { webhook: { secret: SECRET, path: PATH, maxSessions: CAP } },
      agent: openaiAgentConfig(model),
    },
  });
  op = createGatewayClient({ url: gw.url, token: gw.token, retry: false });
  env = { LOOPGATE_STATE_DIR: gw.stateDir };
});
afterAll(async () => {
  await op?.close();
  await gw?.stop();
  await model?.close();
});

const post = (from: string, text: string) =>
  postSignedWebhook({
    port: gw.port,
    path: PATH,
    secret: SECRET,
    body: JSON.stringify({ from, text }),
  });

/** A message the channel accepts: the model's reply is queued for its run, which it waits for. */
async function webhookMessage(from: string, text: string) {
  model.enqueue(textReply(`echo: ${text}`));
  const answer = await post(from, text);
  expect(answer.status, JSON.stringify(answer.body)).toBe(202);
  await op['agent.wait'].query({ runId: String(answer.body.runId), timeoutMs: 10_000 });
  return answer;
}

async function entryCount(sessionId: string): Promise<number> {
  return (await op.sessions.history.query({ sessionId })).entries.length;
}

const deleteCli = (sessionId: string, extraEnv: NodeJS.ProcessEnv = {}) =>
  runCli(['sessions', 'delete', sessionId, '--url', gw.url], { env: { ...env, ...extraEnv } });

const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );

function eventsAfter(afterId: string | null): GatewayEvent[] {
  return gw.gateway.services.events.replayAfter(afterId ?? '0').events.map((e) => e.event);
}

describe('loopgate sessions delete', () => {
  it('at the webhook cap, deleting a session admits a new sender; the deleted sender writing again gets a fresh session', async () => {
    const a = await webhookMessage('sender-a', 'remember this');
    const b = await webhookMessage('sender-b', 'hello');
    const refused = await post('sender-c', 'let me in');
    expect(refused).toMatchObject({ status: 429, body: { code: 'LIMIT_EXCEEDED' } });

    const sessionA = String(a.body.sessionId);
    const transcript = join(gw.stateDir, 'sessions', `${sessionA}.jsonl`);
    expect(await exists(transcript)).toBe(true);
    const entriesA = await entryCount(sessionA);
    const before = gw.gateway.services.events.lastEventId;
    const deleted = await deleteCli(sessionA);
    expect(deleted.code, deleted.stderr).toBe(0);
    expect(deleted.stdout).toContain(`deleted ${sessionA} · ${entriesA} entries`);
    expect(await exists(transcript)).toBe(false);
    expect(eventsAfter(before)).toContainEqual(
      expect.objectContaining({ type: 'session.deleted', sessionId: sessionA, peer: 'sender-a' }),
    );

    await webhookMessage('sender-c', 'let me in');
    const entriesB = await entryCount(String(b.body.sessionId));

    // Room again for sender-a: delete b (--json this time), then a writes again.
    const json = await runCli(
      ['sessions', 'delete', String(b.body.sessionId), '--url', gw.url, '--json'],
      { env },
    );
    expect(json.code, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual({
      sessionId: b.body.sessionId,
      entries: entriesB,
      archives: 0,
    });
    const again = await webhookMessage('sender-a', 'starting over');
    expect(again).toMatchObject({ status: 202, body: { sessionId: sessionA } });
    const history = await op.sessions.history.query({ sessionId: sessionA });
    const texts = history.entries.map((e) => ('text' in e ? e.text : undefined));
    expect(texts).toContain('starting over');
    expect(texts).not.toContain('remember this');
  });

  it('is refused CONFLICT naming the run while one is in progress, and goes through once it ended', async () => {
    const gate = createGate();
    model.enqueue(textReply('slow answer', { gateAfter: { index: 0, gate: gate.promise } }));
    const asked = model.requests.length + 1;
    const run = await op.agent.mutate({
      sessionId: 'busy-session',
      message: 'take your time',
      idempotencyKey: 'busy-1',
    });
    try {
      await model.waitForRequest(asked);
      const refused = await deleteCli('busy-session');
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain('CONFLICT');
      expect(refused.stderr).toContain(run.runId);
      expect(await exists(join(gw.stateDir, 'sessions', 'busy-session.jsonl'))).toBe(true);
    } finally {
      gate.open();
    }
    await op['agent.wait'].query({ runId: run.runId, timeoutMs: 10_000 });
    const deleted = await deleteCli('busy-session');
    expect(deleted.code, deleted.stderr).toBe(0);
    expect(await exists(join(gw.stateDir, 'sessions', 'busy-session.jsonl'))).toBe(false);
  });

  it('exit codes: NOT_FOUND and a write-scope token are gateway errors (1), a missing id is a usage error (2)', async () => {
    const missing = await deleteCli('no-such-session');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('NOT_FOUND');

    model.enqueue(textReply('kept'));
    await op.agent.mutate({ sessionId: 'kept', message: 'keep me', idempotencyKey: 'kept-1' });
    const { token } = await op.tokens.create.mutate({ name: 'writer', scope: 'operator.write' });
    const writer = await deleteCli('kept', { LOOPGATE_GATEWAY_TOKEN: token });
    expect(writer.code).toBe(1);
    expect(writer.stderr).toContain('FORBIDDEN');
    expect(writer.stderr).toContain('operator.admin');
    expect(gw.gateway.services.sessions.get('kept')).toBeDefined();

    const usage = await runCli(['sessions', 'delete', '--url', gw.url], { env });
    expect(usage.code).toBe(2);
  });
});
