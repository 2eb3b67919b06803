import {
  MAX_TOKEN_LIFETIME_MS,
  OperatorScope,
  type OperatorTokenInfo,
  TokensListOutput,
  TokensRevokeOutput,
  type WhoamiOutput,
} from '@loopgate/protocol';
import type { Command } from 'commander';
import * as z from 'zod';
import { addClientOptions, type ClientFlags, type ClientRoute, withClient } from '../connect.js';
import { UsageError } from '../exit-codes.js';
import { formatDuration, note, printResult } from '../output.js';

/** What `tokens create --json` prints: the secret, once. */
const CreatedToken = z.object({
  name: z.string(),
  scope: OperatorScope,
  expiresAt: z.number().nullable(),
  token: z.string(),
});

/** `whoami --json`: the gateway's view plus how this client got there. */
const WhoamiReport = z.object({
  principal: z.string(),
  scope: z.string().nullable(),
  credential: z.string(),
  name: z.string().optional(),
  expiresAt: z.number().nullable(),
  transport: z.enum(['direct', 'tls', 'tls-pinned', 'ssh-tunnel']),
  remoteAddress: z.string(),
  connectionId: z.string(),
});
type WhoamiReport = z.infer<typeof WhoamiReport>;

/** `loopgate tokens …` (operator tokens with a scope) and `loopgate whoami`. */
export function registerTokensCommands(program: Command): void {
  const tokens = program
    .command('tokens')
    .description('operator tokens with a scope: create, list, revoke (operator.admin)');

  addClientOptions(
    tokens
      .command('create')
      .description('a new operator token; the secret is printed once and stored only hashed')
      .requiredOption('--name <label>', 'what to call it (letters, digits, ".", "_", "-")')
      .requiredOption('--scope <scope>', OperatorScope.options.join(' | '))
      .option('--expires <duration>', 'lifetime, e.g. 30m, 1h, 7d (default: until revoked)'),
  ).action(async (flags: ClientFlags & { name: string; scope: string; expires?: string }) => {
    const scope = OperatorScope.safeParse(flags.scope);
    if (!scope.success)
      throw new UsageError(`--scope must be one of ${OperatorScope.options.join(', ')}`);
    const expiresInMs = flags.expires === undefined ? undefined : parseLifetime(flags.expires);
    const created = await withClient(flags, (c) =>
      c.tokens.create.mutate({
        name: flags.name,
        scope: scope.data,
        ...(expiresInMs === undefined ? {} : { expiresInMs }),
      }),
    );
    const { name, expiresAt, token } = created;
    if (!flags.json) note('the token is shown only now: store it where its user will read it');
    printResult(
      { name, scope: created.scope, expiresAt, token },
      {
        json: flags.json,
        schema: CreatedToken,
        human: (t) =>
          `${t.token}\n# ${t.name} · ${t.scope} · ${t.expiresAt === null ? 'never expires' : `expires ${new Date(t.expiresAt).toISOString()}`}`,
      },
    );
  });

  addClientOptions(
    tokens
      .command('list')
      .description('operator tokens: scope, created, expires, last used, live connections'),
  ).action(async (flags: ClientFlags) => {
    const list = await withClient(flags, (c) => c.tokens.list.query());
    printResult(list, { json: flags.json, schema: TokensListOutput, human: renderTokens });
  });

  addClientOptions(
    tokens
      .command('revoke')
      .description('the token stops working and every connection using it closes now')
      .argument('<name>', 'the token name'),
  ).action(async (name: string, flags: ClientFlags) => {
    const revoked = await withClient(flags, (c) => c.tokens.revoke.mutate({ name }));
    printResult(revoked, {
      json: flags.json,
      schema: TokensRevokeOutput,
      human: (r) =>
        `revoked ${r.name}${r.closedConnections > 0 ? ` · closed ${r.closedConnections} live connection(s)` : ''}`,
    });
  });

  addClientOptions(
    program
      .command('whoami')
      .description('who the gateway thinks you are: principal, scope, expiry, transport, address'),
  ).action(async (flags: ClientFlags) => {
    const report = await withClient(flags, async (c, route) =>
      whoamiReport(await c.whoami.query(), route),
    );
    printResult(report, { json: flags.json, schema: WhoamiReport, human: renderWhoami });
  });
}

const UNIT_MS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `30m`, `1h`, `7d`, `45s` → milliseconds; anything else is a usage error. */
export function parseLifetime(text: string): number {
  const match = /^(\d+)([smhd])$/.exec(text.trim());
  const ms = match ? Number(match[1]) * (UNIT_MS[match[2] ?? ''] ?? 0) : 0;
  if (!match || ms < 1_000 || ms > MAX_TOKEN_LIFETIME_MS) {
    throw new UsageError(
      `--expires expects a number and a unit (s, m, h, d), between 1s and 3650d; got "${text}"`,
    );
  }
  return ms;
}

function whoamiReport(who: WhoamiOutput, route: ClientRoute): WhoamiReport {
  return {
    principal: who.role,
    scope: who.principal.startsWith('operator.') ? who.principal : null,
    credential: who.credential,
    ...(who.name !== undefined ? { name: who.name } : {}),
    expiresAt: who.expiresAt,
    transport: route.tunnel
      ? 'ssh-tunnel'
      : route.tlsPinned
        ? 'tls-pinned'
        : who.tls
          ? 'tls'
          : 'direct',
    remoteAddress: who.remoteAddress,
    connectionId: who.connectionId,
  };
}

function renderWhoami(r: WhoamiReport): string {
  const expires =
    r.expiresAt === null
      ? 'never'
      : `${new Date(r.expiresAt).toISOString()} (in ${formatDuration(Math.max(0, r.expiresAt - Date.now()))})`;
  return [
    `principal  ${r.principal}${r.scope ? ` (${r.scope})` : ''}`,
    `credential ${r.credential}${r.name ? ` "${r.name}"` : ''}`,
    `expires    ${expires}`,
    `transport  ${r.transport}`,
    `address    ${r.remoteAddress} (as the gateway sees it)`,
  ].join('\n');
}

function renderTokens(list: { tokens: OperatorTokenInfo[] }): string {
  if (list.tokens.length === 0)
    return 'no operator tokens (loopgate tokens create --name … --scope …)';
  const when = (ms: number | null) => (ms === null ? '-' : new Date(ms).toISOString());
  const rows = list.tokens.map(
    (t) =>
      `${t.name}\t${t.scope}\tcreated ${when(t.createdAt)}\texpires ${t.expired ? 'EXPIRED' : when(t.expiresAt)}\tlast used ${when(t.lastUsedAt)}\t${t.connections} live`,
  );
  return rows.join('\n');
}
