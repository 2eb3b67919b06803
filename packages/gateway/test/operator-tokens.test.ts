import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { OperatorTokens } from '../src/auth/index.js';

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
