import * as z from 'zod';

/**
 * Operator scopes, lowest first. They nest: `operator.admin` may do all that
 * `operator.write` may, which may do all that `operator.read` may.
 */
export const OperatorScope = z.enum(['operator.read', 'operator.write', 'operator.admin']);
export type OperatorScope = z.infer<typeof OperatorScope>;

/**
 * Who a connection acts as, for the authorization table: an unpaired node
 * (`pairing`), a paired `node`, or an operator with one of the scopes.
 */
export const Principal = z.enum(['pairing', 'node', ...OperatorScope.options]);
export type Principal = z.infer<typeof Principal>;

export function isOperatorScope(principal: string): principal is OperatorScope {
  return (OperatorScope.options as readonly string[]).includes(principal);
}

/** What a connection authenticated with; never the secret itself. */
export const CredentialKind = z.enum([
  /** The gateway's own token or password (always operator.admin). */
  'gateway-token',
  'gateway-password',
  /** A Tailscale Serve identity, when `gateway.auth.allowTailscale` is on. */
  'tailscale',
  /** A named token from `loopgate tokens create`. */
  'operator-token',
  /** A node's Ed25519 key, proven over this socket's challenge (a paired node, or one asking to pair). */
  'node-key',
  /** No credential at all. */
  'none',
]);
export type CredentialKind = z.infer<typeof CredentialKind>;

/** The caller as the gateway sees it (`whoami`). */
export const WhoamiOutput = z.object({
  principal: Principal,
  role: z.enum(['operator', 'node', 'pairing']),
  credential: CredentialKind,
  /** The operator token's name, the node's id, the Tailscale login — whatever names the credential. */
  name: z.string().optional(),
  /** Epoch ms after which the credential stops working; null when it does not expire. */
  expiresAt: z.number().nullable(),
  /** The peer address as the gateway sees it (a tunnel or proxy shows as loopback). */
  remoteAddress: z.string(),
  /** Whether the gateway served this socket over TLS. */
  tls: z.boolean(),
  connectionId: z.string(),
  connectedAt: z.number(),
  /**
   * Every procedure this connection may not call, with who may (the lowest
   * operator scope, or `node` / `pairing`): a UI greys out what the gateway
   * would refuse, and says why, without a copy of the table.
   */
  denied: z.record(z.string(), z.string()),
});
export type WhoamiOutput = z.infer<typeof WhoamiOutput>;

/** A token's label: what `tokens revoke` and `tokens list` call it. */
export const OperatorTokenName = z
  .string()
  .min(1)
  .max(64)
  .regex(
    /^[A-Za-z0-9][\w.-]*$/,
    'letters, digits, ".", "_" and "-", starting with a letter or digit',
  );

/** Ten years: long enough for anything meant to expire, short enough to stay a valid date. */
export const MAX_TOKEN_LIFETIME_MS = 10 * 365 * 24 * 60 * 60 * 1000;

export const TokensCreateInput = z.object({
  name: OperatorTokenName,
  scope: OperatorScope,
  /** Lifetime from now; omitted, the token lasts until revoked. */
  expiresInMs: z.number().int().min(1_000).max(MAX_TOKEN_LIFETIME_MS).optional(),
});
export type TokensCreateInput = z.infer<typeof TokensCreateInput>;

/** What names and bounds an operator token, in every answer about one. */
const OperatorTokenBasics = z.object({
  name: z.string(),
  scope: OperatorScope,
  createdAt: z.number(),
  expiresAt: z.number().nullable(),
});

export const TokensCreateOutput = OperatorTokenBasics.extend({
  /** The secret, shown this once: the gateway keeps only its SHA-256. */
  token: z.string(),
});
export type TokensCreateOutput = z.infer<typeof TokensCreateOutput>;

export const OperatorTokenInfo = OperatorTokenBasics.extend({
  lastUsedAt: z.number().nullable(),
  expired: z.boolean(),
  /** Sockets authenticated with it right now. */
  connections: z.number(),
});
export type OperatorTokenInfo = z.infer<typeof OperatorTokenInfo>;

export const TokensListOutput = z.object({ tokens: z.array(OperatorTokenInfo) });
export type TokensListOutput = z.infer<typeof TokensListOutput>;

export const TokensRevokeInput = z.object({ name: OperatorTokenName });
export const TokensRevokeOutput = z.object({
  name: z.string(),
  /** Sockets that were using it and are now closed. */
  closedConnections: z.number(),
});
export type TokensRevokeOutput = z.infer<typeof TokensRevokeOutput>;
