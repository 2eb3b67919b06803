import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { closeAtExpiry, OperatorTokens } from '../src/auth/index.js';
import type { ConnectionInfo } from '../src/router/context.js';

/** The token store on its own: persistence, expiry, and what a failed write leaves behind. */
let dir: string;
const noSockets = { all: () => [] };
const events = { emit: () => {} };
const storeAt = (path: string) => new OperatorTokens({ path, connections: noSockets, events });

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'loopgate-operator-tokens-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('operator tokens', () => {
  it('survive a restart by digest alone, and keep their last use', async () => {
    const path = join(dir, 'operator-tokens.json');
    const first = storeAt(path);
    await first.open();
    const { token } = await first.create({ name: 'ci', scope: 'operator.write' }, 1_000);
    expect(first.check(token, 2_000)).toEqual({
      ok: true,
      name: 'ci',
      scope: 'operator.write',
      expiresAt: undefined,
    });
    await first.close();
    expect(await readFile(path, 'utf8')).not.toContain(token);

    const second = storeAt(path);
    await second.open();
    expect(second.list(3_000)).toMatchObject([{ name: 'ci', lastUsedAt: 2_000, connections: 0 }]);
    expect(second.check(`${token}x`)).toBeUndefined();
    expect(second.check(token)?.ok).toBe(true);
  });

  it('answers an expired token with its name and expiry, not as unknown', async () => {
    const store = storeAt(join(dir, 'operator-tokens.json'));
    const { token } = await store.create(
      { name: 'short', scope: 'operator.read', expiresInMs: 1_000 },
      10_000,
    );
    expect(store.check(token, 10_999)?.ok).toBe(true);
    expect(store.check(token, 11_000)).toEqual({ ok: false, name: 'short', expiredAt: 11_000 });
    expect(store.list(11_000)[0]?.expired).toBe(true);
  });

  it('refuses a file it cannot read rather than starting with no tokens', async () => {
    const path = join(dir, 'operator-tokens.json');
    await writeFile(path, '{ not json');
    await expect(storeAt(path).open()).rejects.toMatchObject({
      code: 'INTERNAL',
      message: expect.stringContaining('operator-tokens.json'),
    });
  });

  it('undoes a create or a revoke whose write failed', async () => {
    // The parent "directory" is a file: every write fails.
    const blocker = join(dir, 'not-a-dir');
    await writeFile(blocker, '');
    const store = storeAt(join(blocker, 'operator-tokens.json'));
    await expect(store.create({ name: 'ci', scope: 'operator.read' })).rejects.toThrow();
    expect(store.list()).toEqual([]);

    const path = join(dir, 'operator-tokens.json');
    const working = storeAt(path);
    const { token } = await working.create({ name: 'kept', scope: 'operator.read' });
    // A directory where the file goes: the rename of the next write fails.
    await rm(path);
    await mkdir(path);
    await expect(working.revoke('kept')).rejects.toThrow();
    expect(working.check(token)?.ok).toBe(true);
    expect(working.list().map((t) => t.name)).toEqual(['kept']);
  });
});

type Conn = {
  credential: string;
  credentialName: string | undefined;
  close: ReturnType<typeof vi.fn>;
};

function conn(credential: string, credentialName?: string): Conn {
  return { credential, credentialName, close: vi.fn() };
}

describe('operator tokens and the sockets using them', () => {
  it('refuses a second token of the same name, and more than 256 tokens', async () => {
    const store = storeAt(join(dir, 'operator-tokens.json'));
    await store.create({ name: 'ci', scope: 'operator.read' });
    await expect(store.create({ name: 'ci', scope: 'operator.admin' })).rejects.toMatchObject({
      code: 'CONFLICT',
      message: 'an operator token named "ci" exists; revoke it first or pick another name',
    });
    for (let i = 1; i < 256; i++) await store.create({ name: `t${i}`, scope: 'operator.read' });
    expect(store.list()).toHaveLength(256);
    await expect(store.create({ name: 'one-more', scope: 'operator.read' })).rejects.toMatchObject({
      code: 'LIMIT_EXCEEDED',
      message: 'at most 256 operator tokens; revoke some',
    });
    await store.revoke('t1');
    await expect(store.create({ name: 'one-more', scope: 'operator.read' })).resolves.toMatchObject(
      {
        name: 'one-more',
      },
    );
  });

  it('announces creation and revocation (never the secret), and lists live sockets per token', async () => {
    const emitted: unknown[] = [];
    const sockets = [
      conn('operator-token', 'ci'),
      conn('operator-token', 'ci'),
      conn('operator-token', 'other'),
      conn('gateway-token', 'ci'),
      conn('operator-token', undefined),
    ];
    const store = new OperatorTokens({
      path: join(dir, 'operator-tokens.json'),
      connections: { all: () => sockets as unknown as ConnectionInfo[] },
      events: { emit: (event: unknown) => emitted.push(event) },
    });
    const { token } = await store.create(
      { name: 'ci', scope: 'operator.write', expiresInMs: 100 },
      1_000,
    );
    await store.create({ name: 'forever', scope: 'operator.read' }, 1_000);
    expect(emitted).toEqual([
      { type: 'auth.token', action: 'created', name: 'ci', scope: 'operator.write' },
      { type: 'auth.token', action: 'created', name: 'forever', scope: 'operator.read' },
    ]);
    expect(JSON.stringify(emitted)).not.toContain(token);
    expect(store.list(1_099)).toEqual([
      {
        name: 'ci',
        scope: 'operator.write',
        createdAt: 1_000,
        expiresAt: 1_100,
        lastUsedAt: null,
        expired: false,
        connections: 2,
      },
      {
        name: 'forever',
        scope: 'operator.read',
        createdAt: 1_000,
        expiresAt: null,
        lastUsedAt: null,
        expired: false,
        connections: 0,
      },
    ]);
    expect(store.list(1_100).map((t) => t.expired)).toEqual([true, false]);

    expect(await store.revoke('ci')).toEqual({ name: 'ci', closedConnections: 2 });
    expect(emitted.at(-1)).toEqual({
      type: 'auth.token',
      action: 'revoked',
      name: 'ci',
      scope: 'operator.write',
    });
    // The sockets close after the reply has gone out.
    for (const s of sockets) expect(s.close).not.toHaveBeenCalled();
    await new Promise((resolve) => setImmediate(resolve));
    expect(sockets[0]?.close).toHaveBeenCalledWith(
      4010,
      'UNAUTHORIZED: the operator token "ci" was revoked',
    );
    expect(sockets[1]?.close).toHaveBeenCalledTimes(1);
    for (const s of sockets.slice(2)) expect(s.close).not.toHaveBeenCalled();
    expect(store.check(token)).toBeUndefined();
    await expect(store.revoke('ci')).rejects.toMatchObject({
      code: 'NOT_FOUND',
      message: 'no operator token named "ci"',
    });
  });

  it('saves last use at close only when a token was used, in a 0600 file', async () => {
    const path = join(dir, 'operator-tokens.json');
    const store = storeAt(path);
    const { token } = await store.create({ name: 'ci', scope: 'operator.read' }, 1_000);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    const written = await readFile(path, 'utf8');
    await store.close();
    expect(await readFile(path, 'utf8')).toBe(written);
    await rm(path);
    await store.close();
    await expect(stat(path)).rejects.toMatchObject({ code: 'ENOENT' });
    store.check(token, 5_000);
    await store.close();
    expect(JSON.parse(await readFile(path, 'utf8')).tokens[0].lastUsedAt).toBe(5_000);
  });

  it('starts empty without a file, and refuses a file it cannot read at all', async () => {
    const missing = storeAt(join(dir, 'none.json'));
    await missing.open();
    expect(missing.list()).toEqual([]);
    await missing.close(); // nothing changed: nothing is written
    await expect(stat(join(dir, 'none.json'))).rejects.toMatchObject({ code: 'ENOENT' });
    const path = join(dir, 'a-dir.json');
    await mkdir(path);
    await expect(storeAt(path).open()).rejects.toMatchObject({ code: 'EISDIR' });
    await writeFile(join(dir, 'shape.json'), '{"version":1,"tokens":[{"name":1}]}');
    await expect(storeAt(join(dir, 'shape.json')).open()).rejects.toMatchObject({
      code: 'INTERNAL',
      message: 'operator-tokens.json in the state dir is invalid; fix or move it away',
    });
  });
});

describe('closeAtExpiry', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  function expiring(expiresAt: number | undefined, credentialName: string | undefined = 'ci') {
    const closed = new AbortController();
    return {
      conn: {
        expiresAt,
        credentialName,
        close: vi.fn(),
        closed: closed.signal,
      },
      abort: () => closed.abort(),
    };
  }

  it('closes the socket with 4001 when its token expires, naming the token', () => {
    vi.useFakeTimers();
    const { conn } = expiring(10_000);
    closeAtExpiry(conn as unknown as ConnectionInfo, 4_000);
    vi.advanceTimersByTime(5_999);
    expect(conn.close).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(conn.close).toHaveBeenCalledWith(4001, 'UNAUTHORIZED: the operator token "ci" expired');
    const unnamed = expiring(10_000, '').conn;
    closeAtExpiry(unnamed as unknown as ConnectionInfo, 4_000);
    vi.advanceTimersByTime(6_000);
    expect(unnamed.close).toHaveBeenCalledWith(4001, 'UNAUTHORIZED: the operator token expired');
  });

  it('closes at once when already expired, never without an expiry or past the timer limit', () => {
    vi.useFakeTimers();
    const past = expiring(1_000).conn;
    closeAtExpiry(past as unknown as ConnectionInfo, 2_000);
    vi.advanceTimersByTime(0);
    expect(past.close).toHaveBeenCalledTimes(1);
    const never = expiring(undefined).conn;
    closeAtExpiry(never as unknown as ConnectionInfo, 0);
    const far = expiring(2 ** 31).conn;
    closeAtExpiry(far as unknown as ConnectionInfo, 0);
    const atLimit = expiring(2 ** 31 - 1).conn;
    closeAtExpiry(atLimit as unknown as ConnectionInfo, 0);
    vi.advanceTimersByTime(2 ** 31 - 1);
    expect(never.close).not.toHaveBeenCalled();
    expect(far.close).not.toHaveBeenCalled();
    expect(atLimit.close).toHaveBeenCalledTimes(1);
  });

  it('forgets the timer when the socket closes first', () => {
    vi.useFakeTimers();
    const { conn, abort } = expiring(10_000);
    closeAtExpiry(conn as unknown as ConnectionInfo, 0);
    abort();
    vi.advanceTimersByTime(20_000);
    expect(conn.close).not.toHaveBeenCalled();
  });
});
