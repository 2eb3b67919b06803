import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import {
  GatewayError,
  type GatewayEventInput,
  SessionId,
  type SessionInfo,
  type TranscriptEntry,
  type TranscriptEntryInput,
} from '@loopgate/protocol';
import type { Logger } from 'pino';
import { fsyncDirectory, writeFileAtomic, writeJsonAtomic } from '../store/index.js';
import {
  entryLines,
  headerLine,
  parseTranscript,
  type TranscriptHeader,
} from './transcript-file.js';
import { MAX_HISTORY_READ_BYTES, readTranscriptTail } from './transcript-tail.js';

/** What the store knows about a session without reading its transcript. */
export type SessionMeta = Omit<SessionInfo, 'activeRunId' | 'queuedRuns'> & { lastSeq: number };

type LoadedTranscript = { entries: TranscriptEntry[] };

type IndexFile = { v: 1; sessions: SessionMeta[] };

export type SessionStoreOptions = {
  stateDir: string;
  events: { emit(event: GatewayEventInput): unknown };
  log: Logger;
  /** Transcripts kept in memory after use (least recently used are dropped, they stay on disk). */
  maxLoadedTranscripts?: number;
};

/** How many peer sessions a channel may hold, and the config key that says so (named in the refusal). */
export type PeerSessionCap = { max: number; setting: string };

const LAST_TEXT_CHARS = 120;

/**
 * Sessions and their transcripts. Each session is one JSONL file under
 * `<stateDir>/sessions/`: a header line, then one line per transcript entry,
 * appended as the turn happens and fsynced at the end of the turn. A small
 * `index.json` caches the list (rewritten atomically); it can always be
 * rebuilt from the files' header lines. Transcripts are read lazily, so a
 * large store does not slow the gateway's start, and a torn last line (a
 * crash mid-append) costs a warning, never a refusal to start.
 */
export class SessionStore {
  readonly #dir: string;
  readonly #indexPath: string;
  readonly #events: SessionStoreOptions['events'];
  readonly #log: Logger;
  readonly #maxLoaded: number;
  readonly #meta = new Map<string, SessionMeta>();
  readonly #byPeer = new Map<string, string>();
  /** Sessions that belong to a peer, by channel: what `forPeer`'s cap counts. */
  readonly #peerSessions = new Map<string, number>();
  readonly #loaded = new Map<string, LoadedTranscript>();
  readonly #loading = new Map<string, Promise<LoadedTranscript>>();
  /** Per-session write chain: appends, loads and resets of one session never interleave. */
  readonly #chains = new Map<string, Promise<unknown>>();
  #indexWrite: Promise<void> | undefined;
  #indexDirty = false;
  #closed = false;

  constructor(options: SessionStoreOptions) {
    this.#dir = join(options.stateDir, 'sessions');
    this.#indexPath = join(this.#dir, 'index.json');
    this.#events = options.events;
    this.#log = options.log;
    this.#maxLoaded = options.maxLoadedTranscripts ?? 64;
  }

  async open(): Promise<void> {
    // A gateway restarted in the same process (or retrying a failed start) opens the store again.
    this.#closed = false;
    await mkdir(this.#dir, { recursive: true, mode: 0o700 });
    const index = await this.#readIndex();
    const files = new Set(
      (await readdir(this.#dir))
        .filter((f) => f.endsWith('.jsonl'))
        .map((f) => f.slice(0, -'.jsonl'.length)),
    );
    for (const meta of index) {
      if (!files.has(meta.id)) continue; // transcript gone: the index entry is stale
      this.#remember(meta);
    }
    // Transcripts the index does not know (index lost or written before a crash): read them.
    for (const id of files) {
      if (this.#meta.has(id) || !SessionId.safeParse(id).success) continue;
      const recovered = await this.#recoverFromFile(id);
      if (recovered) this.#remember(recovered);
    }
    if (files.size !== index.length) this.#scheduleIndexWrite();
  }

  /** Waits for every pending write and leaves the index current. */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.allSettled([...this.#chains.values()]);
    await this.#flushIndex();
  }

  get size(): number {
    return this.#meta.size;
  }

  get(id: string): SessionMeta | undefined {
    return this.#meta.get(id);
  }

  /** Most recently active first. */
  list(options: { channel?: string | undefined; limit?: number } = {}): {
    sessions: SessionMeta[];
    total: number;
  } {
    const all = [...this.#meta.values()].filter(
      (s) => options.channel === undefined || s.channel === options.channel,
    );
    all.sort((a, b) => b.updatedAt - a.updatedAt || a.id.localeCompare(b.id));
    return { sessions: all.slice(0, options.limit ?? all.length), total: all.length };
  }

  /** A new session; `id` is generated unless given (and must then be unused). */
  async create(options: {
    id?: string;
    channel: string;
    peer?: string | undefined;
  }): Promise<SessionMeta> {
    this.#assertOpen();
    const id = options.id ?? `s-${randomBytes(6).toString('hex')}`;
    if (this.#meta.has(id)) throw new GatewayError('CONFLICT', `session ${id} already exists`);
    const now = Date.now();
    const meta: SessionMeta = {
      id,
      channel: options.channel,
      ...(options.peer !== undefined ? { peer: options.peer } : {}),
      createdAt: now,
      updatedAt: now,
      entries: 0,
      lastSeq: 0,
    };
    // Claim the id before the first await so concurrent callers see it.
    this.#remember(meta);
    this.#loaded.set(id, { entries: [] });
    await this.#serial(id, () => writeFileAtomic(this.#file(id), headerLine(this.#header(meta))));
    this.#scheduleIndexWrite();
    this.#events.emit({
      type: 'session.created',
      sessionId: id,
      channel: meta.channel,
      ...(meta.peer !== undefined ? { peer: meta.peer } : {}),
    });
    return meta;
  }

  /** The existing session `id`, or a new one with that id. */
  async ensure(id: string, options: { channel: string }): Promise<SessionMeta> {
    return this.#meta.get(id) ?? this.create({ id, channel: options.channel });
  }

  /**
   * The one session for a channel peer (a Telegram chat, a webhook sender),
   * created on first contact. With `cap`, a new peer is refused once the
   * channel holds `cap.max` peer sessions — each is a file on disk and a
   * line in `sessions list` — while peers already known keep theirs.
   */
  async forPeer(channel: string, peer: string, cap?: PeerSessionCap): Promise<SessionMeta> {
    const existing = this.#byPeer.get(peerKey(channel, peer));
    const meta = existing === undefined ? undefined : this.#meta.get(existing);
    if (meta) return meta;
    if (cap) this.#assertRoomForPeer(channel, cap);
    let id = sessionIdForPeer(channel, peer);
    // A hand-made operator session could have taken the id: keep them apart.
    for (let i = 2; this.#meta.has(id); i++)
      id = `${sessionIdForPeer(channel, peer).slice(0, 95)}-${i}`;
    return this.create({ id, channel, peer });
  }

  /**
   * Appends entries (numbering them) and, with `sync`, fsyncs the file — the
   * runtime syncs at the end of each turn. Resolves with the stored entries.
   */
  async append(
    id: string,
    entries: readonly TranscriptEntryInput[],
    options: { sync: boolean },
  ): Promise<TranscriptEntry[]> {
    this.#assertOpen();
    const meta = this.#require(id);
    return this.#serial(id, async () => {
      const transcript = await this.#load(id);
      const firstSeq = meta.lastSeq + 1;
      const stored = entries.map((e, i) => ({ ...e, seq: firstSeq + i }) as TranscriptEntry);
      const handle = await open(this.#file(id), 'a', 0o600);
      let intact: number | undefined;
      try {
        intact = (await handle.stat()).size;
        await handle.writeFile(entryLines(stored));
        if (options.sync) await handle.sync();
      } catch (error) {
        // A write cut short (ENOSPC, EDQUOT) leaves part of a line: cut it off, or the next
        // append would be glued to it and both would be unreadable.
        if (intact !== undefined) await handle.truncate(intact).catch(() => {});
        throw error;
      } finally {
        await handle.close();
      }
      meta.lastSeq = stored.at(-1)?.seq ?? meta.lastSeq;
      transcript.entries.push(...stored);
      this.#touch(meta, transcript);
      if (options.sync) this.#scheduleIndexWrite();
      return stored;
    });
  }

  /**
   * A page of the transcript: the last `limit` entries before `before`, oldest
   * first. A transcript in memory is sliced; one that is not is read from its
   * end, only as far as the page needs (and at most MAX_HISTORY_READ_BYTES,
   * `cut` when that stopped it), and is not kept: paging through many
   * sessions reads neither whole files nor evicts the ones in use.
   */
  async history(
    id: string,
    options: { limit: number; before?: number | undefined },
  ): Promise<{ entries: TranscriptEntry[]; hasMore: boolean; cut?: true }> {
    this.#require(id);
    return this.#serial(id, async () => {
      const loaded = this.#loaded.get(id);
      if (!loaded) {
        const page = await readTranscriptTail(this.#file(id), options);
        if (page.cut && page.entries.length === 0) {
          // An empty page marked "more" would send a pager round in circles: say why instead.
          throw new GatewayError(
            'LIMIT_EXCEEDED',
            `session ${id}: this page needs more than ${MAX_HISTORY_READ_BYTES} bytes of the transcript read (an entry that large, or a page that far back), over what one sessions.history call reads`,
            { details: { limit: MAX_HISTORY_READ_BYTES } },
          );
        }
        return { entries: page.entries, hasMore: page.hasMore, ...(page.cut ? { cut: true } : {}) };
      }
      const { entries } = loaded;
      const end =
        options.before === undefined ? entries.length : lowerBound(entries, options.before);
      const start = Math.max(0, end - options.limit);
      return { entries: entries.slice(start, end), hasMore: start > 0 };
    });
  }

  /** The last `max` entries, for a model's context. */
  async recent(id: string, max: number): Promise<TranscriptEntry[]> {
    const page = await this.history(id, { limit: max });
    return page.entries;
  }

  /**
   * Starts the session over: the transcript moves to `sessions/archive/`
   * (nothing is deleted) and a fresh one begins; seq numbers keep rising.
   */
  async reset(id: string): Promise<number> {
    this.#assertOpen();
    const meta = this.#require(id);
    const cleared = await this.#serial(id, async () => {
      const transcript = await this.#load(id);
      const count = transcript.entries.length;
      const archiveDir = join(this.#dir, 'archive');
      await mkdir(archiveDir, { recursive: true, mode: 0o700 });
      await rename(this.#file(id), join(archiveDir, `${id}.${Date.now()}.jsonl`));
      await writeFileAtomic(this.#file(id), headerLine(this.#header(meta)));
      await fsyncDirectory(archiveDir);
      transcript.entries = [];
      meta.entries = 0;
      delete meta.lastText;
      meta.updatedAt = Date.now();
      return count;
    });
    this.#scheduleIndexWrite();
    this.#events.emit({ type: 'session.reset', sessionId: id });
    return cleared;
  }

  /**
   * Deletes the session: its transcript and the archives of its earlier
   * resets are removed, and it no longer counts under its channel's cap. A
   * peer that writes again gets a fresh session (a new first contact). The
   * caller makes sure no run is using it (see `AgentRuntime.deleteSession`).
   */
  async delete(id: string): Promise<{ entries: number; archives: number }> {
    this.#assertOpen();
    const meta = this.#require(id);
    // Forgotten before the first await, so whatever comes next sees no such session; a
    // fresh one created under the same id writes its file on this id's chain, after the
    // removal below.
    this.#forget(meta);
    const archives = await this.#serial(id, async () => {
      await rm(this.#file(id), { force: true });
      const removed = await this.#removeArchives(id);
      await fsyncDirectory(this.#dir);
      return removed;
    });
    this.#scheduleIndexWrite();
    this.#events.emit({
      type: 'session.deleted',
      sessionId: id,
      channel: meta.channel,
      ...(meta.peer !== undefined ? { peer: meta.peer } : {}),
    });
    return { entries: meta.entries, archives };
  }

  /** Removes `archive/<id>.<time>.jsonl` (what `reset` moved there); how many. */
  async #removeArchives(id: string): Promise<number> {
    const archiveDir = join(this.#dir, 'archive');
    const names = await readdir(archiveDir).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return [] as string[];
      throw error;
    });
    // Ids hold no dot, so `<id>.` names this session's archives and no other's.
    const ours = names.filter((name) => name.startsWith(`${id}.`) && name.endsWith('.jsonl'));
    for (const name of ours) await rm(join(archiveDir, name), { force: true });
    if (ours.length > 0) await fsyncDirectory(archiveDir);
    return ours.length;
  }

  #forget(meta: SessionMeta): void {
    this.#meta.delete(meta.id);
    this.#loaded.delete(meta.id);
    if (meta.peer === undefined) return;
    const key = peerKey(meta.channel, meta.peer);
    if (this.#byPeer.get(key) === meta.id) this.#byPeer.delete(key);
    const held = (this.#peerSessions.get(meta.channel) ?? 1) - 1;
    if (held <= 0) this.#peerSessions.delete(meta.channel);
    else this.#peerSessions.set(meta.channel, held);
  }

  #assertOpen(): void {
    if (this.#closed) throw new GatewayError('UNAVAILABLE', 'the gateway is shutting down');
  }

  #require(id: string): SessionMeta {
    const meta = this.#meta.get(id);
    if (!meta)
      throw new GatewayError('NOT_FOUND', `no session ${id} (loopgate sessions list shows them)`);
    return meta;
  }

  #remember(meta: SessionMeta): void {
    const known = this.#meta.has(meta.id);
    this.#meta.set(meta.id, meta);
    if (meta.peer === undefined) return;
    this.#byPeer.set(peerKey(meta.channel, meta.peer), meta.id);
    if (!known)
      this.#peerSessions.set(meta.channel, (this.#peerSessions.get(meta.channel) ?? 0) + 1);
  }

  #assertRoomForPeer(channel: string, cap: PeerSessionCap): void {
    const held = this.#peerSessions.get(channel) ?? 0;
    if (held < cap.max) return;
    throw new GatewayError(
      'LIMIT_EXCEEDED',
      `the ${channel} channel already has ${held} sessions (${cap.setting} = ${cap.max}): a new sender is refused, senders it knows keep their sessions; raise ${cap.setting} to admit more`,
      { details: { limit: cap.setting, max: cap.max } },
    );
  }

  #file(id: string): string {
    return join(this.#dir, `${id}.jsonl`);
  }

  #header(meta: SessionMeta): TranscriptHeader {
    return {
      kind: 'session',
      v: 1,
      id: meta.id,
      channel: meta.channel,
      peer: meta.peer,
      createdAt: meta.createdAt,
      seqBase: meta.lastSeq,
    };
  }

  #touch(meta: SessionMeta, transcript: LoadedTranscript): void {
    meta.entries = transcript.entries.length;
    const last = transcript.entries.at(-1);
    if (last) meta.updatedAt = Math.max(meta.updatedAt, last.ts);
    for (let i = transcript.entries.length - 1; i >= 0; i--) {
      const e = transcript.entries[i]!;
      if (e.kind === 'user' || e.kind === 'assistant' || e.kind === 'outbound') {
        if (e.text) {
          meta.lastText =
            e.text.length > LAST_TEXT_CHARS ? `${e.text.slice(0, LAST_TEXT_CHARS - 1)}…` : e.text;
          break;
        }
      }
    }
  }

  #serial<T>(id: string, task: () => Promise<T>): Promise<T> {
    const previous = this.#chains.get(id) ?? Promise.resolve();
    const next = previous.then(task, task);
    // The chain only orders tasks; each caller gets its task's own error through `next`.
    const settled = next.catch(() => {});
    this.#chains.set(id, settled);
    void settled.then(() => {
      if (this.#chains.get(id) === settled) this.#chains.delete(id);
    });
    return next;
  }

  /** Reads a transcript into memory (once), trimming a torn tail so the next append starts on a clean line. */
  async #load(id: string): Promise<LoadedTranscript> {
    const cached = this.#loaded.get(id);
    if (cached) {
      // refresh its place in the LRU order
      this.#loaded.delete(id);
      this.#loaded.set(id, cached);
      return cached;
    }
    let pending = this.#loading.get(id);
    if (!pending) {
      pending = this.#readTranscript(id).finally(() => this.#loading.delete(id));
      this.#loading.set(id, pending);
    }
    const loaded = await pending;
    this.#loaded.set(id, loaded);
    while (this.#loaded.size > this.#maxLoaded) {
      const oldest = this.#loaded.keys().next().value as string;
      this.#loaded.delete(oldest);
    }
    return loaded;
  }

  async #readTranscript(id: string): Promise<LoadedTranscript> {
    const meta = this.#require(id);
    const path = this.#file(id);
    const text = await readFile(path, 'utf8').catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return '';
      throw error;
    });
    const parsed = parseTranscript(text);
    if (parsed.tornTail) {
      this.#log.warn(
        { sessionId: id, bytes: parsed.tornTail.bytes },
        'session transcript ends with a torn line (an interrupted write); it was skipped and trimmed',
      );
      await truncate(path, parsed.intactBytes);
    }
    if (parsed.skippedLines > 0) {
      this.#log.warn(
        { sessionId: id, lines: parsed.skippedLines },
        'session transcript has unreadable lines; they were skipped',
      );
    }
    if (!parsed.header) {
      // The header itself was torn (crash while creating): write it again from what the index knows.
      await writeFileAtomic(path, headerLine(this.#header(meta)) + entryLines(parsed.entries));
    }
    const transcript = { entries: parsed.entries };
    const lastSeq = parsed.entries.at(-1)?.seq ?? parsed.header?.seqBase ?? 0;
    meta.lastSeq = Math.max(meta.lastSeq, lastSeq);
    this.#touch(meta, transcript);
    return transcript;
  }

  async #recoverFromFile(id: string): Promise<SessionMeta | undefined> {
    // Removed between readdir and read: there is nothing to recover.
    const text = await readFile(this.#file(id), 'utf8').catch(() => undefined);
    if (text === undefined) return undefined;
    const parsed = parseTranscript(text);
    const header = parsed.header;
    if (!header || header.id !== id) {
      this.#log.warn(
        { sessionId: id },
        'session transcript has no readable header; it is left on disk but not listed',
      );
      return undefined;
    }
    const meta: SessionMeta = {
      id,
      channel: header.channel,
      ...(header.peer !== undefined ? { peer: header.peer } : {}),
      createdAt: header.createdAt,
      updatedAt: header.createdAt,
      entries: 0,
      lastSeq: parsed.entries.at(-1)?.seq ?? header.seqBase ?? 0,
    };
    this.#touch(meta, { entries: parsed.entries });
    return meta;
  }

  async #readIndex(): Promise<SessionMeta[]> {
    let text: string;
    try {
      text = await readFile(this.#indexPath, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT')
        this.#log.warn({ err: error }, 'cannot read the session index; rebuilding it');
      return [];
    }
    try {
      const parsed = JSON.parse(text) as Partial<IndexFile>;
      return Array.isArray(parsed.sessions)
        ? parsed.sessions.filter(
            (s) => typeof s?.id === 'string' && SessionId.safeParse(s.id).success,
          )
        : [];
    } catch {
      this.#log.warn('the session index is not valid JSON; rebuilding it from the transcripts');
      return [];
    }
  }

  /** Index writes coalesce: at most one in flight and one queued behind it. */
  #scheduleIndexWrite(): void {
    this.#indexDirty = true;
    if (this.#indexWrite) return;
    this.#indexWrite = (async () => {
      while (this.#indexDirty) {
        this.#indexDirty = false;
        const snapshot: IndexFile = { v: 1, sessions: [...this.#meta.values()] };
        try {
          await writeJsonAtomic(this.#indexPath, snapshot);
        } catch (error) {
          // The transcripts stay the truth; the index is rebuilt from them if needed.
          this.#log.warn({ err: error }, 'could not write the session index');
        }
      }
      this.#indexWrite = undefined;
    })();
  }

  async #flushIndex(): Promise<void> {
    while (this.#indexWrite) await this.#indexWrite;
    if (this.#indexDirty) {
      this.#scheduleIndexWrite();
      await this.#indexWrite;
    }
  }
}

function peerKey(channel: string, peer: string): string {
  return `${channel}\u0000${peer}`;
}

/**
 * `telegram` + `12345` → `telegram-12345`: readable and stable, so an operator
 * can type it. Peers with characters outside the id alphabet get a short hash
 * so `a.b` and `a_b` stay different sessions.
 */
export function sessionIdForPeer(channel: string, peer: string): string {
  const safe = (s: string) => s.replace(/[^A-Za-z0-9_-]+/g, '_');
  const base = `${safe(channel)}-${safe(peer)}`.replace(/^[^A-Za-z0-9]+/, '');
  const exact = base === `${channel}-${peer}` && base.length <= 100;
  if (exact) return base;
  const hash = createHash('sha256').update(`${channel}\u0000${peer}`).digest('hex').slice(0, 8);
  return `${base.slice(0, 90)}-${hash}`;
}

/** Index of the first entry with `seq >= before` (entries are sorted by seq). */
function lowerBound(entries: readonly TranscriptEntry[], before: number): number {
  let lo = 0;
  let hi = entries.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (entries[mid]!.seq < before) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
