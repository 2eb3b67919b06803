/**
 * Scoped operator credentials over real sockets: what a read token may do,
 * revocation and rotation closing live sockets within a second (with a
 * reason the typed client shows), expiry, the hashed 0600 state file, and
 * the `tokens` / `whoami` commands.
 */
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { type ConnectionState, createGatewayClient, type GatewayClient } from '@loopgate/client';
import { GatewayError, type OperatorScope } from '@loopgate/protocol';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openOperatorSocket, resultData } from '../src/hardening/index.js';
import { rejection, runCli, startTestGateway, type TestGateway } from '../src/index.js';

let gw: TestGateway;
let admin: GatewayClient;
const cleanups: (() => unknown)[] = [];

beforeAll(async () => {
  gw = await startTestGateway();
  admin = createGatewayClient({ url: gw.url, token: gw.token, retry: false });
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});
afterAll(async () => {
  await admin.close();
  await gw.stop();
});

function clientWith(token: string): GatewayClient {
  const client = createGatewayClient({ url: gw.url, token, retry: false });
  cleanups.push(() => client.close());
  return client;
}

async function newToken(name: string, scope: OperatorScope, expiresInMs?: number) {
  return admin.tokens.create.mutate({ name, scope, ...(expiresInMs ? { expiresInMs } : {}) });
}

/** Resolves with the first final state the client reaches, and when it got there. */
function finalState(client: GatewayClient): Promise<{ state: ConnectionState; at: number }> {
  return new Promise((resolve) => {
    const check = (state: ConnectionState) => {
      if (state.state === 'unauthorized' || state.state === 'closed') {
        stop();
        resolve({ state, at: Date.now() });
      }
    };
    const stop = client.connection.subscribe(check);
    check(client.connection.get());
  });
}

describe('a read token', () => {
  it('can health, status and subscribe to events, but gets FORBIDDEN on nodes.invoke, send and nodes.pair.approve', async () => {
    const { token } = await newToken('reader', 'operator.read');
    const reader = clientWith(token);
    expect((await reader.health.query()).ok).toBe(true);
    expect((await reader.status.query()).version).toBeTruthy();
    let started!: () => void;
    const subscribed = new Promise<void>((resolve) => {
      started = resolve;
    });
    const seen = new Promise<string>((resolve, reject) => {
      const sub = reader.events.subscribe(
        { types: ['auth.token'] },
        {
          onStarted: () => started(),
          onData: (event) => {
            if (event.data.type !== 'auth.token' || event.data.name !== 'watched') return;
            sub.unsubscribe();
            resolve(`${event.data.name} ${event.data.action}`);
          },
          onError: reject,
        },
      );
    });
    // Something for the stream to carry: an admin action the reader may watch but not take.
    await subscribed;
    await newToken('watched', 'operator.read');
    expect(await seen).toBe('watched created');

    const refused = [
      await rejection(
        reader.nodes.invoke.mutate({ nodeId: 'any', command: 'system.info', idempotencyKey: 'k1' }),
      ),
      await rejection(
        reader.send.mutate({ channel: 'webchat', to: 'x', text: 'hi', idempotencyKey: 'send-1' }),
      ),
      await rejection(reader.nodes.pair.approve.mutate({ requestId: 'pr_any' })),
    ];
    for (const error of refused) {
      expect(error).toBeInstanceOf(GatewayError);
      expect(error.code).toBe('FORBIDDEN');
    }
    expect(refused[0]?.message).toMatch(/nodes\.invoke.*operator\.write.*operator\.read/);
    // The untyped door is no way around it.
    const viaCall = await rejection(
      reader.callMethod.mutate({ method: 'nodes.pair.approve', params: { requestId: 'pr_any' } }),
    );
    expect(viaCall.code).toBe('FORBIDDEN');
    // A refusal is per call: the socket stays up.
    expect((await reader.health.query()).ok).toBe(true);
  });
});

describe('revocation', () => {
  it('closes every socket using the token within 1 s with 4010, and the typed client shows why; other tokens stay', async () => {
    const { token } = await newToken('doomed', 'operator.write');
    const { token: otherToken } = await newToken('survivor', 'operator.read');
    const first = clientWith(token);
    const second = clientWith(token);
    const other = clientWith(otherToken);
    const raw = await openOperatorSocket(gw.url, token);
    cleanups.push(() => raw.ws.terminate());
    await Promise.all([first.health.query(), second.health.query(), other.health.query()]);
    expect(resultData<{ ok: boolean }>(await raw.call(1, 'health')).ok).toBe(true);
    const listed = (await admin.tokens.list.query()).tokens.find((t) => t.name === 'doomed');
    expect(listed?.connections).toBe(3);

    const ended = [finalState(first), finalState(second)];
    const revoked = await admin.tokens.revoke.mutate({ name: 'doomed' });
    const revokedAt = Date.now();
    expect(revoked).toEqual({ name: 'doomed', closedConnections: 3 });
    const [a, b] = await Promise.all(ended);
    const closedRaw = await raw.closed;
    expect(closedRaw.code).toBe(4010);
    expect(closedRaw.reason).toMatch(/UNAUTHORIZED: the operator token "doomed" was revoked/);
    for (const end of [a, b]) {
      if (!end) throw new Error('a client never reached a final state');
      expect(end.at - revokedAt).toBeLessThan(1_000);
      expect(end.state.state).toBe('unauthorized');
      if (end.state.state !== 'unauthorized') continue;
      expect(end.state.error.code).toBe('UNAUTHORIZED');
      expect(end.state.error.message).toMatch(/"doomed" was revoked/);
    }
    expect((await other.health.query()).ok).toBe(true);

    const again = createGatewayClient({ url: gw.url, token, retry: false });
    cleanups.push(() => again.close());
    const error = await rejection(again.health.query());
    expect(error.code).toBe('UNAUTHORIZED');
    expect((await admin.tokens.list.query()).tokens.map((t) => t.name)).not.toContain('doomed');
  });
});

describe('expiry', () => {
  it('closes a live socket when its token expires, and a new connection gets UNAUTHORIZED naming the expiry', async () => {
    const created = await newToken('short-lived', 'operator.read', 1_000);
    expect(created.expiresAt).toBeGreaterThan(Date.now());
    const raw = await openOperatorSocket(gw.url, created.token);
    cleanups.push(() => raw.ws.terminate());
    expect(resultData<{ ok: boolean }>(await raw.call(1, 'health')).ok).toBe(true);
    const closed = await raw.closed;
    expect(closed.code).toBe(4001);
    expect(closed.reason).toMatch(/"short-lived" expired/);
    expect(Date.now()).toBeGreaterThanOrEqual(created.expiresAt!);

    const late = createGatewayClient({ url: gw.url, token: created.token, retry: false });
    cleanups.push(() => late.close());
    const error = await rejection(late.health.query());
    expect(error.code).toBe('UNAUTHORIZED');
    expect(error.message).toMatch(/"short-lived" expired at/);
    const listed = (await admin.tokens.list.query()).tokens.find((t) => t.name === 'short-lived');
    expect(listed?.expired).toBe(true);
  });
});

describe('the token file', () => {
  it('keeps only SHA-256 digests, mode 0600; list shows scope, dates, last use and live connections, never a secret', async () => {
    const { token, createdAt } = await newToken('scripted', 'operator.write', 7 * 86_400_000);
    const client = clientWith(token);
    await client.health.query();
    const path = join(gw.stateDir, 'operator-tokens.json');
    const text = await readFile(path, 'utf8');
    expect(text).not.toContain(token);
    expect(text).toContain('"scripted"');
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    const list = await admin.tokens.list.query();
    expect(JSON.stringify(list)).not.toContain(token);
    expect(list.tokens.find((t) => t.name === 'scripted')).toMatchObject({
      scope: 'operator.write',
      createdAt,
      expiresAt: createdAt + 7 * 86_400_000,
      lastUsedAt: expect.any(Number),
      expired: false,
      connections: 1,
    });
    const duplicate = await rejection(newToken('scripted', 'operator.read'));
    expect(duplicate.code).toBe('CONFLICT');
  });
});

describe('rotate-token', () => {
  it('closes every socket on the old gateway token within 1 s; named tokens stay connected', async () => {
    const own = await startTestGateway();
    cleanups.push(() => own.stop());
    const ownAdmin = createGatewayClient({ url: own.url, token: own.token, retry: false });
    cleanups.push(() => ownAdmin.close());
    const { token: named } = await ownAdmin.tokens.create.mutate({
      name: 'ci',
      scope: 'operator.read',
    });
    const onOld = [
      await openOperatorSocket(own.url, own.token),
      await openOperatorSocket(own.url, own.token),
    ];
    const onNamed = await openOperatorSocket(own.url, named);
    for (const s of [...onOld, onNamed]) cleanups.push(() => s.ws.terminate());
    for (const [i, s] of [...onOld, onNamed].entries())
      expect(resultData<{ ok: boolean }>(await s.call(i + 1, 'health')).ok).toBe(true);

    const ended = finalState(ownAdmin);
    await ownAdmin.auth.rotateToken.mutate();
    const rotatedAt = Date.now();
    const closes = await Promise.all(onOld.map((s) => s.closed));
    const closedWithin = Date.now() - rotatedAt;
    for (const close of closes) {
      expect(close.code).toBe(4001);
      expect(close.reason).toMatch(/gateway token was rotated/);
    }
    expect(closedWithin).toBeLessThan(1_000);
    const end = await ended;
    expect(end.at - rotatedAt).toBeLessThan(1_000);
    expect(end.state.state).toBe('unauthorized');
    expect(resultData<{ ok: boolean }>(await onNamed.call(9, 'health')).ok).toBe(true);
  });
});

describe('loopgate tokens and whoami', () => {
  it('creates (secret once, --json), shows whoami for the token, lists without the secret, revokes', async () => {
    const env = { LOOPGATE_STATE_DIR: gw.stateDir, LOOPGATE_GATEWAY_TOKEN: gw.token };
    const created = await runCli(
      [
        'tokens',
        'create',
        '--name',
        'cli-ci',
        '--scope',
        'operator.read',
        '--expires',
        '1h',
        '--json',
        '--url',
        gw.url,
      ],
      { env },
    );
    expect(created.code, created.stderr).toBe(0);
    const json = JSON.parse(created.stdout) as Record<string, unknown>;
    expect(Object.keys(json).sort()).toEqual(['expiresAt', 'name', 'scope', 'token']);
    expect(json).toMatchObject({ name: 'cli-ci', scope: 'operator.read' });
    const secret = json.token as string;
    expect((json.expiresAt as number) - Date.now()).toBeGreaterThan(3_500_000);

    const asReader = { ...env, LOOPGATE_GATEWAY_TOKEN: secret };
    const who = await runCli(['whoami', '--json', '--url', gw.url], { env: asReader });
    expect(who.code, who.stderr).toBe(0);
    expect(JSON.parse(who.stdout)).toMatchObject({
      principal: 'operator',
      scope: 'operator.read',
      credential: 'operator-token',
      name: 'cli-ci',
      expiresAt: json.expiresAt,
      transport: 'direct',
      remoteAddress: '127.0.0.1',
    });
    const forbidden = await runCli(['nodes', 'approve', 'pr_none', '--url', gw.url], {
      env: asReader,
    });
    expect(forbidden.code).toBe(1);
    expect(forbidden.stderr).toMatch(/FORBIDDEN|operator\.admin/);

    const list = await runCli(['tokens', 'list', '--json', '--url', gw.url], { env });
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).not.toContain(secret);
    const row = (
      JSON.parse(list.stdout) as { tokens: { name: string; lastUsedAt: unknown }[] }
    ).tokens.find((t) => t.name === 'cli-ci');
    expect(row?.lastUsedAt).toEqual(expect.any(Number));

    const revoke = await runCli(['tokens', 'revoke', 'cli-ci', '--url', gw.url], { env });
    expect(revoke.code, revoke.stderr).toBe(0);
    expect(revoke.stdout).toContain('revoked cli-ci');
    const after = await runCli(['health', '--url', gw.url], { env: asReader });
    expect(after.code).toBe(1);
    expect(after.stderr).toContain('UNAUTHORIZED');

    const badScope = await runCli(
      ['tokens', 'create', '--name', 'x', '--scope', 'operator.root', '--url', gw.url],
      { env },
    );
    expect(badScope.code).toBe(2);
    const badExpiry = await runCli(
      [
        'tokens',
        'create',
        '--name',
        'x',
        '--scope',
        'operator.read',
        '--expires',
        'soon',
        '--url',
        gw.url,
      ],
      { env },
    );
    expect(badExpiry.code).toBe(2);
    expect(badExpiry.stderr).toContain('--expires');
  }, 60_000);
});

describe('loopgate whoami over TLS', () => {
  it('reports tls-pinned when the CLI pinned the certificate, and the gateway saw TLS', async () => {
    const secure = await startTestGateway({ config: { gateway: { tls: { enabled: true } } } });
    cleanups.push(() => secure.stop());
    const url = `wss://127.0.0.1:${secure.port}`;
    const env = { LOOPGATE_STATE_DIR: secure.stateDir, LOOPGATE_GATEWAY_TOKEN: secure.token };
    const fingerprint = secure.gateway.tlsFingerprint!;
    const who = await runCli(['whoami', '--json', '--url', url, '--tls-fingerprint', fingerprint], {
      env,
    });
    expect(who.code, who.stderr).toBe(0);
    expect(JSON.parse(who.stdout)).toMatchObject({
      principal: 'operator',
      scope: 'operator.admin',
      credential: 'gateway-token',
      expiresAt: null,
      transport: 'tls-pinned',
    });
  }, 30_000);
});
