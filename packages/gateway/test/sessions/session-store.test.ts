import { appendFile, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { GatewayEventInput, TranscriptEntryInput } from '@loopgate/protocol';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseTranscript, SessionStore, sessionIdForPeer } from '../../src/sessions/index.js';

type Warning = { msg: string; obj: Record<string, unknown> };

function recordingLogger(warnings: Warning[]) {
  const log = pino({ level: 'silent' });
  log.warn = ((obj: Record<string, unknown> | string, msg?: string) => {
    warnings.push(typeof obj === 'string' ? { msg: obj, obj: {} } : { msg: msg ?? '', obj });
  }) as typeof log.warn;
  return log;
}

const user = (text: string, runId = 'r1', ts = Date.now()): TranscriptEntryInput => ({
  kind: 'user',
  ts,
  runId,
  text,
  source: { channel: 'webchat' },
});
const assistant = (text: string, runId = 'r1'): TranscriptEntryInput => ({
  kind: 'assistant',
  ts: Date.now(),
  runId,
  round: 1,
  text,
});

describe('SessionStore', () => {
  let dir: string;
  let events: GatewayEventInput[];
  let warnings: Warning[];
  const open = async () => {
    const store = new SessionStore({
      stateDir: dir,
      events: { emit: (e) => events.push(e) },
      log: recordingLogger(warnings),
    });
    await store.open();
    return store;
  };

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'loopgate-sessions-'));
    events = [];
    warnings = [];
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('creates sessions, numbers entries, and pages history backwards', async () => {
    const store = await open();
    const s = await store.create({ channel: 'webchat' });
    expect(s.id).toMatch(/^s-[0-9a-f]{12}$/);
    expect(events).toEqual([{ type: 'session.created', sessionId: s.id, channel: 'webchat' }]);
    for (let i = 1; i <= 5; i++)
      await store.append(s.id, [user(`q${i}`), assistant(`a${i}`)], { sync: i % 2 === 0 });
    const last = await store.history(s.id, { limit: 4 });
    expect(last.entries.map((e) => e.seq)).toEqual([7, 8, 9, 10]);
    expect(last.hasMore).toBe(true);
    const before = await store.history(s.id, { limit: 4, before: 7 });
    expect(before.entries.map((e) => e.seq)).toEqual([3, 4, 5, 6]);
    const first = await store.history(s.id, { limit: 4, before: 3 });
    expect(first.entries.map((e) => e.seq)).toEqual([1, 2]);
    expect(first.hasMore).toBe(false);
    expect(store.get(s.id)).toMatchObject({ entries: 10, lastText: 'a5' });
    await store.close();
  });

  it('keeps transcripts across a restart, and lists most recent first', async () => {
    const store = await open();
    const a = await store.create({ id: 'alpha', channel: 'webchat' });
    const b = await store.forPeer('telegram', '42');
    await store.append(a.id, [user('hello')], { sync: true });
    await store.append(b.id, [user('later', 'r1', Date.now() + 60_000)], { sync: true });
    await store.close();

    const again = await open();
    expect(again.list().sessions.map((s) => s.id)).toEqual(['telegram-42', 'alpha']);
    expect(again.list({ channel: 'telegram' }).sessions).toHaveLength(1);
    expect((await again.forPeer('telegram', '42')).id).toBe('telegram-42');
    expect(
      (await again.history('alpha', { limit: 10 })).entries.map((e) => e.kind === 'user' && e.text),
    ).toEqual(['hello']);
    await again.append('alpha', [assistant('hi')], { sync: true });
    expect((await again.history('alpha', { limit: 10 })).entries.map((e) => e.seq)).toEqual([1, 2]);
    await again.close();
  });

  it('skips a torn last line with a warning, trims it, and appends cleanly after it', async () => {
    const store = await open();
    const s = await store.create({ id: 'torn', channel: 'webchat' });
    await store.append(s.id, [user('one'), assistant('two')], { sync: true });
    await store.close();
    // a crash mid-append: half a JSON line, no newline
    await appendFile(
      join(dir, 'sessions', 'torn.jsonl'),
      '{"seq":3,"ts":1,"kind":"user","runId":"r2","te',
    );

    const again = await open();
    const page = await again.history('torn', { limit: 10 });
    expect(page.entries.map((e) => e.seq)).toEqual([1, 2]);
    // Reading a page leaves the file alone; the next append trims the torn line first.
    await again.append('torn', [user('three', 'r2')], { sync: true });
    expect(warnings.some((w) => w.msg.includes('torn line') && w.obj.sessionId === 'torn')).toBe(
      true,
    );
    await again.close();

    const text = await readFile(join(dir, 'sessions', 'torn.jsonl'), 'utf8');
    const parsed = parseTranscript(text);
    expect(parsed.tornTail).toBeUndefined();
    expect(parsed.skippedLines).toBe(0);
    expect(parsed.entries.map((e) => e.seq)).toEqual([1, 2, 3]);
  });

  it('rebuilds a lost or corrupt index from the transcripts', async () => {
    const store = await open();
    await store.create({ id: 'one', channel: 'webchat' });
    await store.forPeer('webhook', 'alice@example.com');
    await store.append('one', [user('x')], { sync: true });
    await store.close();
    await writeFile(join(dir, 'sessions', 'index.json'), '{ this is not json');

    const again = await open();
    expect(
      again
        .list()
        .sessions.map((s) => s.id)
        .sort(),
    ).toEqual(['one', sessionIdForPeer('webhook', 'alice@example.com')].sort());
    expect(again.get('one')).toMatchObject({ entries: 1, lastText: 'x' });
    expect((await again.forPeer('webhook', 'alice@example.com')).channel).toBe('webhook');
    expect(warnings.some((w) => w.msg.includes('index'))).toBe(true);
    await again.close();
  });

  it('caps a channel’s peer sessions: a new peer past the cap is LIMIT_EXCEEDED naming the setting, known peers and other channels go on, and a reopened store counts the same', async () => {
    const cap = { max: 2, setting: 'channels.webhook.maxSessions' };
    const store = await open();
    await store.forPeer('webhook', 'a', cap);
    await store.forPeer('webhook', 'b', cap);
    await store.create({ id: 'operator-made', channel: 'webhook' });
    await expect(store.forPeer('webhook', 'c', cap)).rejects.toMatchObject({
      code: 'LIMIT_EXCEEDED',
      message: expect.stringContaining('channels.webhook.maxSessions = 2'),
    });
    expect((await store.forPeer('webhook', 'a', cap)).peer).toBe('a');
    expect((await store.forPeer('telegram', '42', cap)).peer).toBe('42');
    await store.close();

    // Opened again in the same process (a restart) and in a new one: still two, not four.
    await store.open();
    await expect(store.forPeer('webhook', 'c', cap)).rejects.toMatchObject({
      code: 'LIMIT_EXCEEDED',
    });
    await store.close();
    const again = await open();
    await expect(again.forPeer('webhook', 'c', cap)).rejects.toMatchObject({
      code: 'LIMIT_EXCEEDED',
    });
    expect((await again.forPeer('webhook', 'c', { ...cap, max: 3 })).peer).toBe('c');
    await again.close();
  });

  it('delete removes the transcript and its archives, frees a place under the cap, and the peer starts afresh; a reopened store agrees', async () => {
    const cap = { max: 2, setting: 'channels.webhook.maxSessions' };
    const store = await open();
    const a = await store.forPeer('webhook', 'a', cap);
    await store.forPeer('webhook', 'b', cap);
    await store.append(a.id, [user('first words')], { sync: true });
    await store.reset(a.id);
    await store.append(a.id, [user('after the reset')], { sync: true });
    await store.create({ id: 'bystander', channel: 'webchat' });
    await store.reset('bystander');
    await expect(store.forPeer('webhook', 'c', cap)).rejects.toMatchObject({
      code: 'LIMIT_EXCEEDED',
    });

    expect(await store.delete(a.id)).toEqual({ entries: 1, archives: 1 });
    const files = await readdir(join(dir, 'sessions'));
    expect(files).not.toContain(`${a.id}.jsonl`);
    const archived = await readdir(join(dir, 'sessions', 'archive'));
    expect(archived.filter((f) => f.startsWith(`${a.id}.`))).toEqual([]);
    expect(archived.filter((f) => f.startsWith('bystander.'))).toHaveLength(1);
    expect(events.at(-1)).toEqual({
      type: 'session.deleted',
      sessionId: a.id,
      channel: 'webhook',
      peer: 'a',
    });
    expect(store.get(a.id)).toBeUndefined();
    await expect(store.history(a.id, { limit: 10 })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(store.delete(a.id)).rejects.toMatchObject({ code: 'NOT_FOUND' });

    // The freed place takes a new sender; the deleted one, writing again, is a new first contact.
    expect((await store.forPeer('webhook', 'c', cap)).peer).toBe('c');
    await expect(store.forPeer('webhook', 'a', cap)).rejects.toMatchObject({
      code: 'LIMIT_EXCEEDED',
    });
    await store.delete('webhook-b');
    const fresh = await store.forPeer('webhook', 'a', cap);
    expect(fresh.id).toBe(a.id);
    expect((await store.history(fresh.id, { limit: 10 })).entries).toEqual([]);
    await store.close();

    const reopened = await open();
    expect(
      reopened
        .list({ channel: 'webhook' })
        .sessions.map((m) => m.id)
        .sort(),
    ).toEqual(['webhook-a', 'webhook-c']);
    await reopened.close();
  });

  it('reset archives the transcript and starts over with rising seq numbers', async () => {
    const store = await open();
    const s = await store.create({ id: 'r', channel: 'webchat' });
    await store.append(s.id, [user('a'), assistant('b')], { sync: true });
    expect(await store.reset(s.id)).toBe(2);
    expect(events.at(-1)).toEqual({ type: 'session.reset', sessionId: 'r' });
    expect((await store.history(s.id, { limit: 10 })).entries).toEqual([]);
    expect(store.get(s.id)).toMatchObject({ entries: 0 });
    expect(store.get(s.id)?.lastText).toBeUndefined();
    await store.append(s.id, [user('c')], { sync: true });
    await store.close();

    const again = await open();
    const entries = (await again.history('r', { limit: 10 })).entries;
    expect(entries.map((e) => e.seq)).toEqual([3]);
    const archived = await readdir(join(dir, 'sessions', 'archive'));
    expect(archived).toHaveLength(1);
    expect(
      parseTranscript(await readFile(join(dir, 'sessions', 'archive', archived[0]!), 'utf8'))
        .entries,
    ).toHaveLength(2);
    await again.close();
  });

  it('keeps appends of concurrent writers in order and whole', async () => {
    const store = await open();
    const s = await store.create({ id: 'busy', channel: 'webchat' });
    await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        store.append(s.id, [user(`m${i}`)], { sync: i % 10 === 9 }),
      ),
    );
    await store.close();
    const parsed = parseTranscript(await readFile(join(dir, 'sessions', 'busy.jsonl'), 'utf8'));
    expect(parsed.entries.map((e) => e.seq)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(parsed.entries.map((e) => (e.kind === 'user' ? e.text : ''))).toEqual(
      Array.from({ length: 50 }, (_, i) => `m${i}`),
    );
  });

  it('refuses unknown sessions and duplicate ids with typed errors', async () => {
    const store = await open();
    await expect(store.history('nope', { limit: 1 })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await store.create({ id: 'dup', channel: 'webchat' });
    await expect(store.create({ id: 'dup', channel: 'webchat' })).rejects.toMatchObject({
      code: 'CONFLICT',
    });
    await store.close();
    await expect(store.append('dup', [user('x')], { sync: true })).rejects.toMatchObject({
      code: 'UNAVAILABLE',
    });
  });
});

describe('sessionIdForPeer', () => {
  it('is readable for plain peers and distinct for peers that sanitize alike', () => {
    expect(sessionIdForPeer('telegram', '12345')).toBe('telegram-12345');
    expect(sessionIdForPeer('telegram', '-100987')).toBe('telegram--100987');
    const a = sessionIdForPeer('webhook', 'a.b');
    const b = sessionIdForPeer('webhook', 'a_b');
    expect(a).not.toBe(b);
    for (const id of [
      a,
      b,
      sessionIdForPeer('webhook', '../../etc/passwd'),
      sessionIdForPeer('x', 'y'.repeat(300)),
    ]) {
      expect(id).toMatch(/^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$/);
    }
  });
});

describe('parseTranscript', () => {
  it('skips unreadable middle lines but keeps reading', () => {
    const header = JSON.stringify({
      kind: 'session',
      v: 1,
      id: 'x',
      channel: 'webchat',
      createdAt: 1,
      seqBase: 0,
    });
    const good = (seq: number) =>
      JSON.stringify({ seq, ts: 1, kind: 'assistant', runId: 'r', round: 1, text: `t${seq}` });
    const parsed = parseTranscript(`${header}\n${good(1)}\n{garbage}\n${good(3)}\n`);
    expect(parsed.entries.map((e) => e.seq)).toEqual([1, 3]);
    expect(parsed.skippedLines).toBe(1);
    expect(parsed.tornTail).toBeUndefined();
  });

  it('treats a garbage last line as torn even with a newline', () => {
    const header = JSON.stringify({
      kind: 'session',
      v: 1,
      id: 'x',
      channel: 'webchat',
      createdAt: 1,
      seqBase: 0,
    });
    const text = `${header}\n\u0000\u0000\u0000\n`;
    const parsed = parseTranscript(text);
    expect(parsed.tornTail).toEqual({ bytes: 4 });
    expect(parsed.intactBytes).toBe(header.length + 1);
  });
});
