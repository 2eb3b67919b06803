import { createServer } from 'node:net';
import { createGatewayClient } from '@loopgate/client';
import { type AgentRunResult, SessionsListOutput } from '@loopgate/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, startTestGateway, type TestGateway } from '../src/index.js';
import { cliEnv, startPairedNode } from './nodes-harness.js';

/** `loopgate agent`, `send` and `sessions` as real CLI processes against a real gateway. */
describe('loopgate agent / send / sessions', { timeout: 90_000 }, () => {
  let gw: TestGateway;
  let env: NodeJS.ProcessEnv;
  const cli = (...args: string[]) =>
    runCli([...args, '--url', gw.url], {
      // Through the environment, not argv: a token in argv earns a warning line on stderr.
      env: { ...env, LOOPGATE_GATEWAY_TOKEN: gw.token },
      timeoutMs: 30_000,
    });

  beforeAll(async () => {
    gw = await startTestGateway();
    env = await cliEnv();
  });
  afterAll(async () => {
    await gw.stop();
  });

  it('agent streams the answer to stdout, says which run and session on stderr, exits 0', async () => {
    const out = await cli('agent', '--session', 'cli-desk', '/help');
    expect(out.code).toBe(0);
    expect(out.stdout).toMatch(/^Directives:\n/);
    expect(out.stdout.endsWith('\n')).toBe(true);
    expect(out.stderr).toMatch(/^run run-[0-9a-f]+ · session cli-desk\n/);
  });

  it('agent --json prints the final result alone', async () => {
    const out = await cli('agent', '--json', 'what', 'is', 'this?');
    expect(out.code).toBe(0);
    const result = JSON.parse(out.stdout) as AgentRunResult;
    expect(result).toMatchObject({ state: 'completed', toolCalls: 0 });
    expect(result.text).toContain('local provider');
    expect(out.stderr).toBe('');
  });

  it('sessions list and history show what happened', async () => {
    const list = await cli('sessions', 'list', '--json');
    expect(list.code).toBe(0);
    const parsed = SessionsListOutput.parse(JSON.parse(list.stdout));
    expect(parsed.sessions.map((s) => s.id)).toContain('cli-desk');
    const human = await cli('sessions', 'list');
    expect(human.stdout).toMatch(/cli-desk {2}webchat · 3 entries/);
    const history = await cli('sessions', 'history', 'cli-desk');
    expect(history.code).toBe(0);
    expect(history.stdout).toMatch(/^#1 \d\d:\d\d:\d\d user: \/help$/m);
    expect(history.stdout).toMatch(/^#3 .* turn completed/m);
    const missing = await cli('sessions', 'history', 'no-such-session');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('NOT_FOUND: no session no-such-session');
  });

  it('send delivers once per key and names problems plainly', async () => {
    // the same command twice, with one idempotency key
    const send = [
      'send',
      '--channel',
      'webchat',
      '--to',
      'cli-desk',
      '--idempotency-key',
      'cli-k1',
      'hello',
      'desk',
    ];
    const first = await cli(...send);
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/^sent via webchat to cli-desk · message msg-[0-9a-f]+\n$/);
    const again = await cli(...send);
    expect(again.stdout).toContain('already sent with this key; not sent again');
    const unknown = await cli('send', '--channel', 'sms', '--to', 'x', 'hi');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('BAD_REQUEST: unknown channel "sms"');
    const usage = await cli('send', '--to', 'x', 'hi');
    expect(usage.code).toBe(2);
  });

  it('send to an unknown webchat session is refused with NOT_FOUND unless --create-session', async () => {
    const typo = await cli('send', '--channel', 'webchat', '--to', 'cli-dsek', 'hello');
    expect(typo.code).toBe(1);
    expect(typo.stderr).toContain('NOT_FOUND: no session "cli-dsek"');
    const listed = await cli('sessions', 'list', '--json');
    expect(listed.stdout).not.toContain('cli-dsek');
    // `gateway send` is the same command (the reference system's spelling)
    const created = await cli(
      'gateway',
      'send',
      '--channel',
      'webchat',
      '--to',
      'cli-new-desk',
      '--create-session',
      'hello',
    );
    expect(created.code).toBe(0);
    expect(created.stdout).toMatch(/^sent via webchat to cli-new-desk/);
  });

  it('gateway call send/agent default an idempotency key as the dedicated commands do', async () => {
    const params = JSON.stringify({ channel: 'webchat', to: 'cli-desk', text: 'via call' });
    const first = await cli('gateway', 'call', 'send', '--params', params, '--json');
    expect(first.code).toBe(0);
    const second = await cli('gateway', 'call', 'send', '--params', params, '--json');
    expect(second.code).toBe(0);
    // two calls, two fresh keys: two messages, neither a replay
    expect(JSON.parse(first.stdout).deduplicated).toBe(false);
    expect(JSON.parse(second.stdout).deduplicated).toBe(false);
    expect(JSON.parse(second.stdout).messageId).not.toBe(JSON.parse(first.stdout).messageId);
    const agent = await cli('gateway', 'agent', '--session', 'cli-desk', '--json', '/help');
    expect(agent.code).toBe(0);
    expect(JSON.parse(agent.stdout).state).toBe('completed');
  });

  it('shows tool calls on stderr while the answer goes to stdout', async () => {
    const op = createGatewayClient({ url: gw.url, token: gw.token });
    const node = await startPairedNode(gw, op, { name: 'cli-worker' });
    try {
      const out = await cli('agent', '/invoke', 'cli-worker', 'system.info');
      expect(out.code).toBe(0);
      expect(out.stderr).toMatch(/^→ cli-worker__system_info \{\}$/m);
      expect(out.stderr).toMatch(/^← ok \(\d+ ms\) \{"node":"cli-worker",/m);
      expect(out.stdout).toMatch(/^cli-worker · system\.info → ok\n\{/);
    } finally {
      await node.stop();
      await op.close();
    }
  });

  it('a failed run exits 1 with the reason', async () => {
    const port = await closedPort();
    const failing = await startTestGateway({
      config: {
        agent: {
          provider: 'openai',
          openai: { baseUrl: `http://127.0.0.1:${port}/v1`, timeoutMs: 5_000 },
        },
      },
    });
    try {
      const out = await runCli(['agent', 'hello', '--url', failing.url, '--token', failing.token], {
        env,
        timeoutMs: 30_000,
      });
      expect(out.code).toBe(1);
      expect(out.stderr).toContain(
        `run failed: PROVIDER_UNAVAILABLE: cannot reach http://127.0.0.1:${port}/v1/chat/completions: connection refused`,
      );
    } finally {
      await failing.stop();
    }
  });
});

/** A loopback port nothing listens on. */
function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
