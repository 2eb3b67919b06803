import type { ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createGatewayClient } from '@loopgate/client';
import type { EventsJsonLine } from '@loopgate/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { askToPair } from '../src/hardening/index.js';
import {
  runCli,
  spawnCli,
  startTestGateway,
  type TestGateway,
  waitFor,
  waitForOutput,
} from '../src/index.js';

/* `loopgate logs` and `loopgate events` as real processes against a real gateway. */

const SECRET = 'sk-this-must-never-leave-the-gateway-0123456789';

describe('loopgate logs', () => {
  let gw: TestGateway;
  let env: NodeJS.ProcessEnv;
  beforeAll(async () => {
    gw = await startTestGateway({ config: { logging: { level: 'info' } } });
    env = { LOOPGATE_STATE_DIR: gw.stateDir };
  });
  afterAll(async () => {
    await gw?.stop();
  });

  it('serves the log over the gateway connection, filtered by level, with secrets redacted', async () => {
    const log = gw.gateway.services.log;
    log.info({ marker: 'logs-cli-info' }, 'an info line');
    log.warn(
      { marker: 'logs-cli-warn', token: SECRET, agent: { apiKey: SECRET } },
      'a warning line',
    );
    const result = await runCli(['logs', '--url', gw.url, '--level', 'warn', '--json'], { env });
    expect(result.code, result.stderr).toBe(0);
    const records = result.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { level: number; msg?: string; marker?: string });
    expect(records.some((r) => r.marker === 'logs-cli-warn' && r.msg === 'a warning line')).toBe(
      true,
    );
    expect(records.some((r) => r.marker === 'logs-cli-info')).toBe(false);
    expect(records.every((r) => r.level >= 40)).toBe(true);
    expect(result.stdout).not.toContain(SECRET);
    expect(result.stdout).toContain('[redacted]');

    const pretty = await runCli(['logs', '--url', gw.url], { env });
    expect(pretty.code).toBe(0);
    expect(pretty.stdout).toMatch(
      /\dZ WARN {2}a warning line {2}marker=logs-cli-warn token=\[redacted\]/,
    );
    expect(pretty.stdout).not.toContain(SECRET);
  });

  it('--follow streams new lines until Ctrl+C', async () => {
    gw.gateway.services.log.info('an old line --tail 0 leaves out');
    const child = spawnCli(['logs', '--url', gw.url, '--follow', '--tail', '0'], { env });
    // The subscription goes live some time after spawn: log until the line shows up.
    const ticker = setInterval(() => gw.gateway.services.log.info('followed line'), 200);
    try {
      const text = await waitForOutput(child, (out) => out.includes('followed line'), {
        timeoutMs: 15_000,
      });
      expect(text).toContain('INFO  followed line');
      expect(text).not.toContain('an old line');
    } finally {
      clearInterval(ticker);
      child.kill('SIGINT');
    }
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).toBe(0);
  });

  it('--since reads past the in-memory ring from the log file (after a restart)', async () => {
    gw.gateway.services.log.warn({ marker: 'before-restart' }, 'logged before the restart');
    const file = join(gw.stateDir, 'logs', 'gateway.log');
    await waitFor(async () => (await readFile(file, 'utf8')).includes('before-restart'), {
      what: 'the line to reach the log file',
    });
    await gw.restart();
    const ringOnly = await runCli(['logs', '--url', gw.url, '--json'], { env });
    expect(ringOnly.stdout).not.toContain('before-restart');
    const result = await runCli(['logs', '--url', gw.url, '--since', '10m', '--json'], { env });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('before-restart');
  });

  it('bad flags are usage errors (exit 2)', async () => {
    expect((await runCli(['logs', '--url', gw.url, '--level', 'loud'], { env })).code).toBe(2);
    expect((await runCli(['logs', '--url', gw.url, '--since', 'yesterday'], { env })).code).toBe(2);
  });
});

describe('loopgate events', () => {
  let gw: TestGateway;
  let env: NodeJS.ProcessEnv;
  beforeAll(async () => {
    gw = await startTestGateway();
    env = { LOOPGATE_STATE_DIR: gw.stateDir };
  });
  afterAll(async () => {
    await gw?.stop();
  });

  it('ends quietly with exit 0 when the reader of its output goes away (| head)', async () => {
    const child = spawnCli(['events', '--url', gw.url, '--follow', '--since', '10m'], { env });
    let stderr = '';
    child.stderr?.on('data', (d) => {
      stderr += d;
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    // What `| head -1` does: read the first line, then close the pipe.
    await waitForOutput(child, (text) => /#\d+ /.test(text));
    child.stdout?.destroy();
    // Events keep coming (each CLI call opens a connection), so the next write meets the closed pipe.
    await runCli(['health', '--url', gw.url], { env });
    expect(await exited).toBe(0);
    expect(stderr).not.toMatch(/EPIPE|Unhandled/);
  });

  it('prints recent events and ends; --since <id> resumes after that id from the durable log', async () => {
    const first = await runCli(['events', '--url', gw.url, '--json'], { env });
    expect(first.code, first.stderr).toBe(0);
    const events = first.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { id: string; type: string });
    expect(events.map((e) => e.type)).toContain('gateway.started');
    const startedId = events.find((e) => e.type === 'gateway.started')?.id ?? '';

    const resumed = await runCli(['events', '--url', gw.url, '--since', startedId, '--json'], {
      env,
    });
    expect(resumed.code).toBe(0);
    const ids = resumed.stdout
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((line) => Number((JSON.parse(line) as { id: string }).id));
    expect(ids.length).toBeGreaterThan(0);
    expect(ids.every((id) => id > Number(startedId))).toBe(true);
  });

  it('--follow --filter streams only matching events until Ctrl+C', async () => {
    const child = spawnCli(
      ['events', '--url', gw.url, '--follow', '--filter', 'clientName=probe-me'],
      { env },
    );
    const others: ReturnType<typeof createGatewayClient>[] = [];
    // The subscription goes live some time after spawn: connect clients until one shows up.
    const ticker = setInterval(() => {
      const other = createGatewayClient({ url: gw.url, token: gw.token, clientName: 'probe-me' });
      others.push(other);
      other.health.query().catch(() => {});
    }, 300);
    try {
      const text = await waitForOutput(child, (out) => out.includes('probe-me'), {
        timeoutMs: 15_000,
      });
      expect(text).toMatch(/#\d+ connection\.opened .*clientName=probe-me/);
      expect(text).not.toContain('loopgate-cli');
    } finally {
      clearInterval(ticker);
      child.kill('SIGINT');
      await Promise.all(others.map((o) => o.close()));
    }
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).toBe(0);
  });

  it('--follow shows a live event (a pairing request) without an id, never under the durable id before it; --since resumes from durable ids', async () => {
    const bus = gw.gateway.services.events;
    const children = [
      spawnCli(['events', '--url', gw.url, '--follow', '--json'], { env }),
      spawnCli(['events', '--url', gw.url, '--follow'], { env }),
    ];
    const outputs = children.map(collectStdout);
    const [json, human] = outputs as [() => string, () => string];
    const printed = (state: string) =>
      json().includes(`"state":"${state}"`) && human().includes(`state=${state}`);
    // The subscriptions go live some time after spawn: emit until both have printed one.
    const ticker = setInterval(
      () => bus.emit({ type: 'channel.status', channel: 'live-test', state: 'before' }),
      200,
    );
    let asker: Awaited<ReturnType<typeof askToPair>>['asker'] | undefined;
    try {
      await waitFor(() => printed('before'), {
        what: 'both streams live',
        timeoutMs: 15_000,
      });
      clearInterval(ticker);
      const lastBefore = bus.lastEventId ?? '';
      const pairing = await askToPair(gw.url, '', 'live-node');
      asker = pairing.asker;
      bus.emit({ type: 'channel.status', channel: 'live-test', state: 'after' });
      await waitFor(() => printed('after'), {
        what: 'the event after the pairing request',
        timeoutMs: 15_000,
      });

      const lines = json()
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as EventsJsonLine);
      const requested = lines.find((l) => l.type === 'node.pair.requested');
      expect(requested).toMatchObject({ id: null, live: true, name: 'live-node' });
      const ids = lines.flatMap((l) => (l.id === null ? [] : [l.id]));
      expect(new Set(ids).size).toBe(ids.length);
      expect(lines.filter((l) => l.id !== null).every((l) => l.live === undefined)).toBe(true);
      expect(human()).toMatch(/Z live node\.pair\.requested {2}requestId=/);
      expect(human()).not.toMatch(/#\d+ node\.pair\.requested/);
      expect(human()).not.toContain('live=true');

      // Resuming from the last durable id before the request: the events after it, not the live one.
      const resumed = await runCli(['events', '--url', gw.url, '--since', lastBefore, '--json'], {
        env,
      });
      expect(resumed.code, resumed.stderr).toBe(0);
      const replayed = resumed.stdout
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as EventsJsonLine);
      expect(replayed.map((l) => l.type)).toContain('channel.status');
      expect(replayed.some((l) => l.type === 'node.pair.requested')).toBe(false);
      expect(replayed.every((l) => l.id !== null && Number(l.id) > Number(lastBefore))).toBe(true);
    } finally {
      clearInterval(ticker);
      asker?.ws.close();
      for (const child of children) child.kill('SIGINT');
    }
    const codes = await Promise.all(
      children.map((child) => new Promise<number | null>((resolve) => child.once('exit', resolve))),
    );
    expect(codes).toEqual([0, 0]);
  });

  it('a bad --filter is a usage error (exit 2)', async () => {
    const result = await runCli(['events', '--url', gw.url, '--filter', '(unclosed'], { env });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--filter is not a valid regular expression');
  });
});

/** Everything the child has written to stdout so far. */
function collectStdout(child: ChildProcess): () => string {
  let text = '';
  child.stdout?.on('data', (chunk) => {
    text += chunk;
  });
  return () => text;
}
