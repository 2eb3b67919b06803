/**
 * A read-only operator making the gateway read a large transcript from disk
 * in a loop: `sessions.history` loaded the whole file to answer any page,
 * and a session not among the 64 kept in memory was read again on the next
 * call. A real gateway process with transcripts on its state dir, a raw
 * socket with an `operator.read` token, and the bytes the gateway process
 * read counted by the kernel (`rchar` in /proc/<pid>/io), not a clock.
 */
import { readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createOperatorToken,
  type GatewayProcess,
  type OperatorSocket,
  openOperatorSocket,
  resultData,
  startGatewayProcess,
} from '../../src/hardening/index.js';
import { makeTempDir, runCli } from '../../src/index.js';

const MiB = 1024 * 1024;
const ENTRIES = 16_000;
/** ~1 KiB per entry: a 16 MiB transcript. */
const TEXT = 'x'.repeat(1000);
const CALLS = 40;

function bytesReadBy(pid: number): number {
  const io = readFileSync(`/proc/${pid}/io`, 'utf8');
  const match = /^rchar:\s*(\d+)$/m.exec(io);
  if (!match) throw new Error(`no rchar in /proc/${pid}/io`);
  return Number(match[1]);
}

function transcript(id: string, entries: string[]): string {
  const header = { kind: 'session', v: 1, id, channel: 'webchat', createdAt: 1, seqBase: 0 };
  return `${JSON.stringify(header)}\n${entries.join('\n')}\n`;
}

function userLine(seq: number, text: string): string {
  return JSON.stringify({
    seq,
    ts: seq,
    kind: 'user',
    runId: `r${seq}`,
    text,
    source: { channel: 'webchat' },
  });
}

type Page = { entries: { seq: number }[]; hasMore: boolean; cut?: boolean };

describe('row 65: sessions.history of large transcripts in a loop', { timeout: 120_000 }, () => {
  let stateDir: string;
  let proc: GatewayProcess;
  let reader: OperatorSocket;
  beforeAll(async () => {
    stateDir = await makeTempDir('loopgate-history-');
    const sessions = join(stateDir, 'sessions');
    await mkdir(sessions, { mode: 0o700 });
    const lines = Array.from({ length: ENTRIES }, (_, i) => userLine(i + 1, TEXT));
    for (const id of ['big-a', 'big-b'])
      await writeFile(join(sessions, `${id}.jsonl`), transcript(id, lines), { mode: 0o600 });
    // One entry larger than a call may read: the page is cut, not read whole.
    await writeFile(
      join(sessions, 'huge-line.jsonl'),
      transcript('huge-line', [
        userLine(1, 'old'),
        userLine(2, 'y'.repeat(9 * MiB)),
        userLine(3, 'new'),
      ]),
      { mode: 0o600 },
    );
    proc = await startGatewayProcess({ stateDir });
    const token = await createOperatorToken(
      proc.url,
      proc.token,
      'history-reader',
      'operator.read',
    );
    reader = await openOperatorSocket(proc.url, token);
  });
  afterAll(async () => {
    reader.ws.close();
    await proc.stop();
    await rm(stateDir, { recursive: true, force: true });
  });

  let nextId = 1;
  const history = async (input: Record<string, unknown>): Promise<Page> => {
    const frame = await reader.call(nextId++, 'sessions.history', input);
    if (frame.error) throw new Error(`sessions.history failed: ${frame.error.json.message}`);
    return resultData<Page>(frame);
  };

  it('row 65: 40 pages of 100 entries from two 16 MiB transcripts read what the pages need, not the files', async () => {
    const before = bytesReadBy(proc.pid);
    for (let i = 0; i < CALLS; i++) {
      const page = await history({ sessionId: i % 2 ? 'big-b' : 'big-a', limit: 100 });
      expect(page.entries.map((e) => e.seq)).toEqual(
        Array.from({ length: 100 }, (_, k) => ENTRIES - 99 + k),
      );
      expect(page.hasMore).toBe(true);
    }
    const older = await history({ sessionId: 'big-a', limit: 10, before: ENTRIES - 99 });
    expect(older.entries.map((e) => e.seq)).toEqual(
      Array.from({ length: 10 }, (_, k) => ENTRIES - 109 + k),
    );
    const read = bytesReadBy(proc.pid) - before;
    // A page of 100 ~1 KiB entries is two 64 KiB reads; the whole files are 32 MiB.
    expect(read, `the gateway read ${(read / MiB).toFixed(1)} MiB`).toBeLessThan(8 * MiB);
  });

  it('row 65: a page stopped by a line larger than a call may read comes back cut; the page behind it is refused LIMIT_EXCEEDED; each after at most 8 MiB read', async () => {
    let before = bytesReadBy(proc.pid);
    const page = await history({ sessionId: 'huge-line', limit: 10 });
    expect(bytesReadBy(proc.pid) - before).toBeLessThanOrEqual(8 * MiB + 64 * 1024);
    expect(page).toMatchObject({ entries: [{ seq: 3 }], hasMore: true, cut: true });

    before = bytesReadBy(proc.pid);
    const frame = await reader.call(nextId++, 'sessions.history', {
      sessionId: 'huge-line',
      limit: 10,
      before: 3,
    });
    expect(bytesReadBy(proc.pid) - before).toBeLessThanOrEqual(8 * MiB + 64 * 1024);
    expect(frame.error?.json.data.gatewayCode).toBe('LIMIT_EXCEEDED');
    expect(frame.error?.json.message).toMatch(/huge-line.*8388608 bytes/);
  });

  it('row 65: `loopgate sessions history` says a page was cut short, and where to page back from', async () => {
    const env = { LOOPGATE_STATE_DIR: stateDir };
    const args = ['sessions', 'history', 'huge-line', '--limit', '10', '--url', proc.url];
    const human = await runCli(args, { env });
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toMatch(
      /^\(page cut short: .*read bound; earlier entries: --before 3\)$/m,
    );
    expect(human.stdout).toMatch(/^#3 .* user: new$/m);
    const json = await runCli([...args, '--json'], { env });
    expect(json.code, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ cut: true, hasMore: true });
  });
});
