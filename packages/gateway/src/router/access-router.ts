import {
  TokensCreateInput,
  TokensCreateOutput,
  TokensListOutput,
  TokensRevokeInput,
  TokensRevokeOutput,
  WhoamiOutput,
} from '@loopgate/protocol';
import { deniedProcedures } from '../authorization/index.js';
import { procedure, router } from './trpc.js';

/** Who the caller is and, for admins, the operator tokens the gateway honours. */
export const accessRouter = router({
  /** The caller as the gateway sees it: principal, credential, expiry, address, TLS. */
  whoami: procedure.output(WhoamiOutput).query(({ ctx }) => {
    const { conn } = ctx;
    return {
      principal: conn.principal,
      role: conn.role,
      credential: conn.credential,
      ...(conn.credentialName !== undefined ? { name: conn.credentialName } : {}),
      expiresAt: conn.expiresAt ?? null,
      remoteAddress: conn.remoteAddress,
      tls: conn.tls,
      connectionId: conn.id,
      connectedAt: conn.connectedAt,
      denied: deniedProcedures(conn.principal),
    };
  }),

  tokens: router({
    /** A new named token with a scope (and maybe an expiry); the secret is in this reply only. */
    create: procedure
      .input(TokensCreateInput)
      .output(TokensCreateOutput)
      .mutation(({ ctx, input }) => ctx.services.operatorTokens.create(input)),

    /** Every named token: scope, created, expires, last used, live connections — never the secret. */
    list: procedure
      .output(TokensListOutput)
      .query(({ ctx }) => ({ tokens: ctx.services.operatorTokens.list() })),

    /** The token stops working and every socket using it closes (4010, with the reason). */
    revoke: procedure
      .input(TokensRevokeInput)
      .output(TokensRevokeOutput)
      .mutation(({ ctx, input }) => ctx.services.operatorTokens.revoke(input.name)),
  }),
});
