/**
 * Hostile peers on the same host (issue 12, rows 29-34 and 48 of docs/hardening.md):
 * the gateway-side findings — identity headers, guessing from loopback,
 * webhook replay, secrets in argv and file modes under the state dir.
 * Real gateway processes, real CLI processes, real sockets.
 */
import { chmod, lstat, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createGatewayClient } from '@loopgate/client';
import { HealthOutput } from '@loopgate/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type GatewayProcess,
  openOperatorSocket,
  openRawWebSocket,
  postSignedWebhook,
  resultData,
  sendConnectionParams,
  startGatewayProcess,
} from '../../src/hardening/index.js';
import {
  makeTempDir,
  runCli,
  spawnCli,
  startTestGateway,
  type TestGateway,
  waitFor,
  waitForOutput,
} from '../../src/index.js';

/** Every file and directory below `root` with its permission bits. */
async function walk(root: string): Promise<{ path: string; dir: boolean; mode: number }[]> {
  const out: { path: string; dir: boolean; mode: number }[] = [];
  for (const name of await readdir(root)) {
    const path = join(root, name);
    const stat = await lstat(path);
    out.push({ path, dir: stat.isDirectory(), mode: stat.mode & 0o777 });
    if (stat.isDirectory()) out.push(...(await walk(path)));
  }
  return out;
}

describe('row 34: secrets and file modes', () => {
  it('row 34: every file a real gateway process creates under the state dir is 0600 and every directory 0700 (logs/gateway.log included)', async () => {
    const stateDir = await makeTempDir('loopgate-modes-');
    const env = { LOOPGATE_STATE_DIR: stateDir, HOME: stateDir };
    const child = spawnCli(['gateway', 'run', '--port', '0'], { env });
    try {
      const out = await waitForOutput(child, (t) => t.includes('logs:'));
      const url = `ws://127.0.0.1:${Number(/127\.0\.0\.1:(\d+)/.exec(out)?.[1])}`;
      // An agent run writes a session transcript and events besides the token and the log.
      const agent = await runCli(['agent', 'hello there', '--json', '--url', url], { env });
      expect(agent.code, agent.stderr).toBe(0);
    } finally {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGINT');
      await exited;
    }
    const entries = await walk(stateDir);
    const names = entries.map((e) => e.path.slice(stateDir.length + 1));
    expect(names).toEqual(
      expect.arrayContaining(['gateway-token', 'logs/gateway.log', 'events.jsonl']),
    );
    expect(names.some((n) => n.startsWith('sessions/'))).toBe(true);
    const wrong = entries
      .filter((e) => e.mode !== (e.dir ? 0o700 : 0o600))
      .map((e) => `${e.path.slice(stateDir.length + 1)} ${e.mode.toString(8)}`);
    expect(wrong).toEqual([]);
  });

  describe('the CLI keeps secrets out of argv', () => {
    let gw: TestGateway;
    let env: NodeJS.ProcessEnv;
    beforeAll(async () => {
      gw = await startTestGateway();
      // A state dir of its own, so the CLI cannot fall back to the gateway's token file.
      const home = await makeTempDir('loopgate-cli-');
      env = { LOOPGATE_STATE_DIR: home, HOME: home };
    });
    afterAll(() => gw.stop());
    const WARNING = /warning: a token given with --token is visible to other users/;

    it('row 34: --token-file <path> authenticates and prints no warning', async () => {
      const file = join(await makeTempDir('loopgate-secret-'), 'token');
      await writeFile(file, `${gw.token}\n`, { mode: 0o600 });
      const out = await runCli(['health', '--json', '--url', gw.url, '--token-file', file], {
        env,
      });
      expect(out.code, out.stderr).toBe(0);
      expect(HealthOutput.parse(JSON.parse(out.stdout)).ok).toBe(true);
      expect(out.stderr).not.toMatch(WARNING);
    });

    it('row 34: --token - reads the token from stdin and prints no warning', async () => {
      const out = await runCli(['health', '--json', '--url', gw.url, '--token', '-'], {
        env,
        stdin: `${gw.token}\n`,
      });
      expect(out.code, out.stderr).toBe(0);
      expect(out.stderr).not.toMatch(WARNING);
    });

    it('row 34: a token given in argv still works but prints exactly one warning line, without the token', async () => {
      const out = await runCli(['health', '--json', '--url', gw.url, '--token', gw.token], { env });
      expect(out.code, out.stderr).toBe(0);
      const warnings = out.stderr.split('\n').filter((l) => WARNING.test(l));
      expect(warnings).toHaveLength(1);
      expect(out.stderr).not.toContain(gw.token);
    });

    it('row 34: --token with --token-file, an empty or a missing token file is a usage error (exit 2) naming the flag', async () => {
      const dir = await makeTempDir('loopgate-secret-');
      const empty = join(dir, 'empty');
      await writeFile(empty, '\n');
      const both = await runCli(
        ['health', '--url', gw.url, '--token', 'x', '--token-file', empty],
        { env },
      );
      expect(both.code).toBe(2);
      expect(both.stderr).toMatch(/--token or --token-file, not both/);
      const blank = await runCli(['health', '--url', gw.url, '--token-file', empty], { env });
      expect(blank.code).toBe(2);
      expect(blank.stderr).toMatch(/--token-file .* is empty/);
      const missing = await runCli(
        ['health', '--url', gw.url, '--password-file', join(dir, 'nope')],
        { env },
      );
      expect(missing.code).toBe(2);
      expect(missing.stderr).toMatch(/cannot read --password-file .*ENOENT/);
      expect(await readFile(empty, 'utf8')).toBe('\n');
    });
  });
});

describe('row 33: webhook replay', () => {
  const SECRET = 'webhook-secret-for-replay-test';
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway({
      config: { channels: { webhook: { secret: SECRET, path: '/hooks/in' } } },
    });
  });
  afterAll(() => gw.stop());

  const post = (body: string, timestampSec: number) =>
    postSignedWebhook({ port: gw.port, path: '/hooks/in', secret: SECRET, body, timestampSec });

  /** Agent runs recorded in a session: one `user` entry per run. */
  const userTurns = async (sessionId: string): Promise<number> => {
    const op = createGatewayClient({ url: gw.url, token: gw.token });
    try {
      const history = await op.sessions.history.query({ sessionId, limit: 200 });
      return history.entries.filter((e) => e.kind === 'user').length;
    } finally {
      await op.close();
    }
  };

  it('row 33: the same signed request without an id, replayed 5 times (3 at once), starts one agent run', async () => {
    const body = JSON.stringify({ from: 'replayer', text: 'run me once' });
    const now = Math.floor(Date.now() / 1000);
    const first = await post(body, now);
    expect(first).toMatchObject({ status: 202, body: { ok: true, deduplicated: false } });
    const again = [await post(body, now), await post(body, now)];
    again.push(...(await Promise.all([post(body, now), post(body, now), post(body, now)])));
    for (const replay of again)
      expect(replay).toMatchObject({
        status: 202,
        body: { runId: first.body.runId, deduplicated: true },
      });
    await waitFor(async () => (await userTurns('webhook-replayer')) >= 1, {
      what: 'the first run in the transcript',
    });
    // A fresh signature (new timestamp) is a new request and does run: the transcript counts runs.
    const fresh = await post(body, now - 1);
    expect(fresh).toMatchObject({ status: 202, body: { deduplicated: false } });
    await waitFor(async () => (await userTurns('webhook-replayer')) >= 2, {
      what: 'the second, freshly signed run',
    });
    expect(await userTurns('webhook-replayer')).toBe(2);
  });

  it('row 33: a timestamp 60 s ahead is refused 401 naming the 30 s limit; 20 s ahead (clock skew) is accepted', async () => {
    const now = Math.floor(Date.now() / 1000);
    const ahead = await post(JSON.stringify({ from: 'future', text: 'from the future' }), now + 60);
    expect(ahead.status).toBe(401);
    expect(String(ahead.body.error)).toMatch(/more than 30 s ahead/);
    const skewed = await post(JSON.stringify({ from: 'skewed', text: 'a bit ahead' }), now + 20);
    expect(skewed).toMatchObject({ status: 202, body: { ok: true } });
  });
});

describe('row 30: guessing from loopback', { timeout: 90_000 }, () => {
  const PASSWORD = 'the-right-password-1234';
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway({ config: { gateway: { auth: { password: PASSWORD } } } });
  });
  afterAll(() => gw.stop());

  /** One wrong-password attempt from a local process: what the gateway answered. */
  const guess = async (attempt: number): Promise<string> => {
    // 127.0.0.2 is loopback too: a different local process, counted in the same bucket.
    const ws = await openRawWebSocket({
      port: gw.port,
      path: '/?connectionParams=1',
      localAddress: '127.0.0.2',
    });
    try {
      if (ws.status !== 101) return String(ws.status);
      sendConnectionParams(ws, { password: `wrong-guess-${attempt}` });
      const frame = JSON.parse(await ws.nextText()) as {
        error: { json: { data: { gatewayCode: string } } };
      };
      return frame.error.json.data.gatewayCode;
    } finally {
      ws.destroy();
    }
  };

  it('row 30: 300 wrong passwords from loopback are locked out after 30; the operator who had already authenticated keeps working', async () => {
    const operator = createGatewayClient({ url: gw.url, password: PASSWORD, retry: false });
    try {
      expect((await operator.health.query()).ok).toBe(true);
      const answers: Record<string, number> = {};
      for (let attempt = 1; attempt <= 300; attempt++) {
        const answer = await guess(attempt);
        answers[answer] = (answers[answer] ?? 0) + 1;
        if (attempt % 50 === 0) expect((await operator.health.query()).ok).toBe(true);
      }
      expect(answers).toEqual({ UNAUTHORIZED: 30, '429': 270 });
      // The open operator connection never noticed.
      expect((await operator.health.query()).ok).toBe(true);
      // A NEW local connection, even with the right password, waits out the (60 s) lockout:
      // letting the right one through would tell a guesser when it had found it.
      const late = await openRawWebSocket({ port: gw.port, path: '/?connectionParams=1' });
      expect(late.status).toBe(429);
      expect(Number(late.headers['retry-after'])).toBeGreaterThan(0);
      expect(Number(late.headers['retry-after'])).toBeLessThanOrEqual(60);
      late.destroy();
    } finally {
      await operator.close();
    }
  });
});

/**
 * A stand-in for the `tailscale` CLI (Tailscale cannot run here): answers
 * `version` and `whois --json <addr>` in the real CLI's shape
 * (apitype.WhoIsResponse: Node, UserProfile, CapMap) for one tailnet
 * address, "no match" (exit 1) for any other, and logs every argv it got;
 * `whoisDelayMs` makes it as slow as a busy daemon.
 */
async function tailscaleStandIn(
  dir: string,
  owner: { address: string; login: string },
  whoisDelayMs = 0,
) {
  const log = join(dir, 'calls.log');
  const script = `#!${process.execPath}
const { appendFileSync } = require('node:fs');
const args = process.argv.slice(2);
appendFileSync(${JSON.stringify(log)}, JSON.stringify(args) + '\\n');
// A daemon slow to answer: the gateway's whois waits up to 3 s.
if (args[0] === 'whois') Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ${whoisDelayMs});
if (args[0] === 'version') { console.log('1.76.6\\n  tailscale commit: stand-in'); process.exit(0); }
if (args[0] === 'whois' && args[1] === '--json' && args[2] === ${JSON.stringify(owner.address)}) {
  console.log(JSON.stringify({
    Node: {
      ID: 7340101, StableID: 'nT1ABCDEF11CNTRL', Name: 'alice-laptop.tail1234.ts.net.', User: 9876543,
      Key: 'nodekey:6d1e5a0b', KeyExpiry: '2027-01-01T00:00:00Z',
      Addresses: [${JSON.stringify(`${owner.address}/32`)}, 'fd7a:115c:a1e0::1234/128'],
      Hostinfo: { OS: 'macOS', Hostname: 'alice-laptop' }, Created: '2026-01-02T03:04:05Z',
      ComputedName: 'alice-laptop', ComputedNameWithHost: 'alice-laptop',
    },
    UserProfile: { ID: 9876543, LoginName: ${JSON.stringify(owner.login)}, DisplayName: 'Alice Example', ProfilePicURL: 'https://example.com/alice.png' },
    CapMap: null,
  }, null, 2));
  process.exit(0);
}
console.error('no match for IP:port ' + (args[2] ?? ''));
process.exit(1);
`;
  const path = join(dir, 'tailscale');
  await writeFile(path, script);
  await chmod(path, 0o755);
  return {
    calls: async (): Promise<string[][]> =>
      (await readFile(log, 'utf8').catch(() => ''))
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as string[]),
  };
}

const ALICE = { address: '100.101.102.103', login: 'alice@example.com' };

/** What Tailscale Serve adds when it proxies a tailnet request onto loopback. */
const serve = (login: string, clientAddress: string) => ({
  'tailscale-user-login': login,
  'tailscale-user-name': 'Alice Example',
  'x-forwarded-for': clientAddress,
  'x-forwarded-proto': 'https',
  'x-forwarded-host': 'box.tail1234.ts.net',
});

/** Opens a socket with `headers` and no credential; what `whoami` answered (or the auth error). */
async function whoamiWith(gp: GatewayProcess, headers: Record<string, string>) {
  const socket = await openOperatorSocket(gp.url, '', { params: {}, headers });
  try {
    socket.ws.send(
      JSON.stringify({
        id: 1,
        method: 'query',
        params: { path: 'whoami', input: { json: null } },
      }),
    );
    const frame = await socket.next(10_000);
    return frame.error
      ? { error: frame.error.json.data.gatewayCode }
      : { who: resultData<{ credential: string; name?: string; principal: string }>(frame) };
  } finally {
    socket.ws.close();
  }
}

describe('row 29: Tailscale identity headers', { timeout: 90_000 }, () => {
  const gateways: GatewayProcess[] = [];
  afterAll(async () => {
    await Promise.all(gateways.map((g) => g.stop()));
  });
  const start = async (path: string) => {
    const gp = await startGatewayProcess({
      config: { gateway: { auth: { allowTailscale: true } } },
      env: { PATH: path },
    });
    gateways.push(gp);
    return gp;
  };

  const tailscaleStatus = async (gp: GatewayProcess): Promise<string | undefined> => {
    const op = createGatewayClient({ url: gp.url, token: gp.token, retry: false });
    try {
      return (await op.status.query()).auth.tailscale;
    } finally {
      await op.close();
    }
  };

  it('row 29: a plain local process sending tailscale-user-login with no credential gets UNAUTHORIZED, even with a working tailscale CLI', async () => {
    const dir = await makeTempDir('loopgate-ts-');
    const standIn = await tailscaleStandIn(dir, ALICE);
    const gp = await start(`${dir}:/usr/bin:/bin`);
    expect(await whoamiWith(gp, { 'tailscale-user-login': ALICE.login })).toEqual({
      error: 'UNAUTHORIZED',
    });
    // No Serve forwarding headers: the daemon is not even asked.
    expect((await standIn.calls()).filter((c) => c[0] === 'whois')).toEqual([]);
  });

  it('row 29: through Serve, a login tailscale whois confirms is an operator; one it does not is UNAUTHORIZED; status says verified via whois', async () => {
    const dir = await makeTempDir('loopgate-ts-');
    const standIn = await tailscaleStandIn(dir, ALICE);
    const gp = await start(`${dir}:/usr/bin:/bin`);
    expect(await whoamiWith(gp, serve(ALICE.login, ALICE.address))).toMatchObject({
      who: { credential: 'tailscale', name: ALICE.login, principal: 'operator.admin' },
    });
    // Someone else's login on Alice's address, and Alice's login on an address whois does not know.
    expect(await whoamiWith(gp, serve('mallory@example.com', ALICE.address))).toEqual({
      error: 'UNAUTHORIZED',
    });
    expect(await whoamiWith(gp, serve(ALICE.login, '100.64.0.99'))).toEqual({
      error: 'UNAUTHORIZED',
    });
    // Not an address at all: refused without running the CLI.
    expect(await whoamiWith(gp, serve(ALICE.login, '$(touch /tmp/pwned) ; x'))).toEqual({
      error: 'UNAUTHORIZED',
    });
    const whois = (await standIn.calls()).filter((c) => c[0] === 'whois');
    // Alice's address asked once (the answer is cached), the unknown one once; argv exactly as sent.
    expect(whois).toEqual([
      ['whois', '--json', ALICE.address],
      ['whois', '--json', '100.64.0.99'],
    ]);
    expect(await tailscaleStatus(gp)).toBe('tailscale identity: verified via whois');
  });

  it('row 29: without a tailscale CLI on PATH the Serve headers are ignored (UNAUTHORIZED) and status says why', async () => {
    const gp = await start('/usr/bin:/bin');
    expect(await whoamiWith(gp, serve(ALICE.login, ALICE.address))).toEqual({
      error: 'UNAUTHORIZED',
    });
    expect(await tailscaleStatus(gp)).toMatch(
      /^tailscale identity: unavailable: the tailscale CLI was not found on PATH/,
    );
  });
});

describe('row 48: frames held while tailscale whois answers', { timeout: 90_000 }, () => {
  let gp: GatewayProcess | undefined;
  afterAll(async () => {
    await gp?.stop();
  });

  it('row 48: 200 frames of 16 KiB sent behind a Serve claim while a slow whois runs close the socket 1009 LIMIT_EXCEEDED; a Serve client with its request right behind its params still gets in', async () => {
    const dir = await makeTempDir('loopgate-ts-');
    const standIn = await tailscaleStandIn(dir, ALICE, 1_500);
    gp = await startGatewayProcess({
      config: { gateway: { auth: { allowTailscale: true } } },
      env: { PATH: `${dir}:/usr/bin:/bin` },
    });

    const honest = whoamiWith(gp, serve(ALICE.login, ALICE.address));
    // A claim whois will not confirm: the credential check takes as long as the daemon does.
    const flooder = await openOperatorSocket(gp.url, '', {
      params: {},
      headers: serve(ALICE.login, '100.64.0.99'),
    });
    const padding = 'x'.repeat(16 * 1024);
    for (let id = 1; id <= 200 && flooder.ws.readyState === flooder.ws.OPEN; id++) {
      const input = { json: { padding } };
      flooder.ws.send(JSON.stringify({ id, method: 'query', params: { path: 'health', input } }));
    }
    const closed = await flooder.closed;
    expect(closed.code).toBe(1009);
    expect(closed.reason).toMatch(/^LIMIT_EXCEEDED: over 32 frames or 65536 bytes .*being checked/);

    expect(await honest).toMatchObject({
      who: { credential: 'tailscale', name: ALICE.login, principal: 'operator.admin' },
    });
    const whois = (await standIn.calls()).filter((c) => c[0] === 'whois').map((c) => c[2]);
    expect(whois.sort()).toEqual(['100.101.102.103', '100.64.0.99']);
    const op = createGatewayClient({ url: gp.url, token: gp.token, retry: false });
    try {
      expect((await op.health.query()).ok).toBe(true);
    } finally {
      await op.close();
    }
  });
});

describe('row 51: requests sent while tailscale whois answers', { timeout: 90_000 }, () => {
  let gp: GatewayProcess | undefined;
  afterAll(async () => {
    await gp?.stop();
  });

  it('row 51: a subscription.stop sent right behind its subscription while whois answers still stops it', async () => {
    const dir = await makeTempDir('loopgate-ts-');
    await tailscaleStandIn(dir, ALICE, 500);
    gp = await startGatewayProcess({
      config: { gateway: { auth: { allowTailscale: true } } },
      env: { PATH: `${dir}:/usr/bin:/bin` },
    });
    const peer = await openOperatorSocket(gp.url, '', {
      params: {},
      headers: serve(ALICE.login, ALICE.address),
    });
    try {
      // All three wait for the whois answer; they must then run in the order sent.
      const subscribe = { path: 'events', input: { json: {} } };
      peer.ws.send(JSON.stringify({ id: 'sub', method: 'subscription', params: subscribe }));
      peer.ws.send(JSON.stringify({ id: 'sub', method: 'subscription.stop' }));
      const health = { path: 'health', input: { json: null } };
      peer.ws.send(JSON.stringify({ id: 2, method: 'query', params: health }));
      const seen: string[] = [];
      let answered = false;
      while (!answered || !seen.includes('stopped')) {
        const frame = await peer.next(5_000).catch((error: Error) => {
          throw new Error(`${error.message}; the subscription saw ${JSON.stringify(seen)}`);
        });
        if (frame.id === 'sub') seen.push(frame.result?.type ?? 'error');
        if (frame.id === 2) answered = frame.result !== undefined;
      }
      // Stopped before or after it started, but stopped: before the fix the stop ran first,
      // found no subscription, and the stream ran on (no `stopped`, ever).
      expect(seen.at(-1)).toBe('stopped');
      expect(seen.filter((type) => type === 'stopped')).toHaveLength(1);
    } finally {
      peer.ws.close();
      await peer.closed;
    }
  });
});
