import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import {
  CloseCode,
  GatewayError,
  type GatewayEventInput,
  type OperatorScope,
  OperatorScope as OperatorScopeSchema,
  type OperatorTokenInfo,
  type TokensCreateInput,
  type TokensCreateOutput,
  type TokensRevokeOutput,
} from '@loopgate/protocol';
import * as z from 'zod';
import type { ConnectionInfo } from '../router/context.js';
import { writeJsonAtomic } from '../store/index.js';
import { digestSecret } from './credentials.js';

export const OPERATOR_TOKENS_FILE_NAME = 'operator-tokens.json';
/** Enough for every script and teammate; a bound on the file and on `tokens list`. */
const MAX_TOKENS = 256;
/** The longest a timer can wait (setTimeout's 32-bit limit); later expiries are caught per call. */
const MAX_TIMER_MS = 2 ** 31 - 1;

const TokenRecord = z.object({
  name: z.string(),
  scope: OperatorScopeSchema,
  /** SHA-256 (hex) of the secret; the secret itself is shown once and never stored. */
  digest: z.string().regex(/^[0-9a-f]{64}$/),
  createdAt: z.number(),
  expiresAt: z.number().nullable(),
  lastUsedAt: z.number().nullable(),
});
type TokenRecord = z.infer<typeof TokenRecord>;
const TokensFile = z.object({ version: z.literal(1), tokens: z.array(TokenRecord) });

/** What a presented secret turned out to be. */
export type TokenCheck =
  | { ok: true; name: string; scope: OperatorScope; expiresAt: number | undefined }
  | { ok: false; name: string; expiredAt: number };

/** Where creations and revocations are announced; the gateway's event bus. */
export type TokenEvents = { emit(event: GatewayEventInput): unknown };

/** The sockets the store may close; the gateway's live-connection tracker. */
export type TokenConnections = { all(): Iterable<ConnectionInfo> };

/**
 * Named, scoped operator tokens (`loopgate tokens create`), kept in
 * `<stateDir>/operator-tokens.json` (0600) as SHA-256 digests. Revoking one
 * closes every socket that authenticated with it.
 */
export class OperatorTokens {
  readonly #path: string;
  readonly #connections: TokenConnections;
  readonly #events: TokenEvents;
  readonly #byName = new Map<string, TokenRecord>();
  readonly #byDigest = new Map<string, TokenRecord>();
  #writes: Promise<void> = Promise.resolve();
  /** `lastUsedAt` changed since the last write; saved with the next write or at close. */
  #dirty = false;

  constructor(options: {
    path: string;
    connections: TokenConnections;
    events: TokenEvents;
  }) {
    this.#path = options.path;
    this.#connections = options.connections;
    this.#events = options.events;
  }

  async open(): Promise<void> {
    let text: string;
    try {
      text = await readFile(this.#path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    const parsed = TokensFile.safeParse(parseJsonOrUndefined(text));
    if (!parsed.success) {
      throw new GatewayError(
        'INTERNAL',
        `${OPERATOR_TOKENS_FILE_NAME} in the state dir is invalid; fix or move it away`,
      );
    }
    for (const record of parsed.data.tokens) this.#add(record);
  }

  /** Saves last-used times gathered since the last write. */
  async close(): Promise<void> {
    if (this.#dirty) await this.#save();
    await this.#writes;
  }

  async create(input: TokensCreateInput, now = Date.now()): Promise<TokensCreateOutput> {
    if (this.#byName.has(input.name)) {
      throw new GatewayError(
        'CONFLICT',
        `an operator token named "${input.name}" exists; revoke it first or pick another name`,
      );
    }
    if (this.#byName.size >= MAX_TOKENS) {
      throw new GatewayError(
        'LIMIT_EXCEEDED',
        `at most ${MAX_TOKENS} operator tokens; revoke some`,
      );
    }
    const token = `lgo_${randomBytes(32).toString('base64url')}`;
    const record: TokenRecord = {
      name: input.name,
      scope: input.scope,
      digest: digestSecret(token).toString('hex'),
      createdAt: now,
      expiresAt: input.expiresInMs === undefined ? null : now + input.expiresInMs,
      lastUsedAt: null,
    };
    this.#add(record);
    await this.#saveOrUndo(() => this.#remove(record));
    const { name, scope, createdAt, expiresAt } = record;
    this.#events.emit({ type: 'auth.token', action: 'created', name, scope });
    return { name, scope, createdAt, expiresAt, token };
  }

  list(now = Date.now()): OperatorTokenInfo[] {
    const live = new Map<string, number>();
    for (const conn of this.#connections.all()) {
      if (conn.credential === 'operator-token' && conn.credentialName !== undefined)
        live.set(conn.credentialName, (live.get(conn.credentialName) ?? 0) + 1);
    }
    return [...this.#byName.values()].map((r) => ({
      name: r.name,
      scope: r.scope,
      createdAt: r.createdAt,
      expiresAt: r.expiresAt,
      lastUsedAt: r.lastUsedAt,
      expired: r.expiresAt !== null && now >= r.expiresAt,
      connections: live.get(r.name) ?? 0,
    }));
  }

  /** Deletes the token, then closes every socket that authenticated with it. */
  async revoke(name: string): Promise<TokensRevokeOutput> {
    const record = this.#byName.get(name);
    if (!record) throw new GatewayError('NOT_FOUND', `no operator token named "${name}"`);
    this.#remove(record);
    await this.#saveOrUndo(() => this.#add(record));
    this.#events.emit({ type: 'auth.token', action: 'revoked', name, scope: record.scope });
    const users = [...this.#connections.all()].filter(
      (c) => c.credential === 'operator-token' && c.credentialName === name,
    );
    // Let the caller's reply go out first: an admin may revoke the token it is using.
    setImmediate(() => {
      for (const conn of users)
        conn.close(CloseCode.revoked, `UNAUTHORIZED: the operator token "${name}" was revoked`);
    });
    return { name, closedConnections: users.length };
  }

  /** Looks a presented secret up by its digest; undefined when it is no token of ours. */
  check(secret: string, now = Date.now()): TokenCheck | undefined {
    const record = this.#byDigest.get(digestSecret(secret).toString('hex'));
    if (!record) return undefined;
    if (record.expiresAt !== null && now >= record.expiresAt)
      return { ok: false, name: record.name, expiredAt: record.expiresAt };
    record.lastUsedAt = now;
    this.#dirty = true;
    return {
      ok: true,
      name: record.name,
      scope: record.scope,
      expiresAt: record.expiresAt ?? undefined,
    };
  }

  #add(record: TokenRecord): void {
    this.#byName.set(record.name, record);
    this.#byDigest.set(record.digest, record);
  }

  #remove(record: TokenRecord): void {
    this.#byName.delete(record.name);
    this.#byDigest.delete(record.digest);
  }

  /** A change an operator asked for counts only once it is on disk; a failed write undoes it. */
  async #saveOrUndo(undo: () => void): Promise<void> {
    try {
      await this.#save();
    } catch (error) {
      undo();
      throw error;
    }
  }

  /** Writes are serialised, each one a complete snapshot taken when it starts. */
  #save(): Promise<void> {
    const done = this.#writes.then(() => {
      this.#dirty = false;
      return writeJsonAtomic(
        this.#path,
        { version: 1, tokens: [...this.#byName.values()] },
        { mode: 0o600 },
      );
    });
    this.#writes = done.catch(() => {
      // The caller of this write sees its failure; the next write starts afresh.
    });
    return done;
  }
}

/**
 * Closes `conn` when its credential expires, so a long-lived subscription
 * does not outlive the token. Expiries past the timer limit are caught by the
 * authorization middleware on the next call instead.
 */
export function closeAtExpiry(conn: ConnectionInfo, now = Date.now()): void {
  if (conn.expiresAt === undefined) return;
  const delay = conn.expiresAt - now;
  if (delay > MAX_TIMER_MS) return;
  const timer = setTimeout(
    () => {
      const name = conn.credentialName ? ` "${conn.credentialName}"` : '';
      conn.close(CloseCode.unauthorized, `UNAUTHORIZED: the operator token${name} expired`);
    },
    Math.max(0, delay),
  );
  timer.unref();
  conn.closed.addEventListener('abort', () => clearTimeout(timer), { once: true });
}

function parseJsonOrUndefined(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    // Not JSON at all: reported by the caller as an invalid file, like a wrong shape.
    if (error instanceof SyntaxError) return undefined;
    throw error;
  }
}
