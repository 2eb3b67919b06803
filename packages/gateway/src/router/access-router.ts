import { WhoamiOutput } from '@loopgate/protocol';
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
    };
  }),
});
