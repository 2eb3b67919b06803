import type { CredentialKind, OperatorScope } from '@loopgate/protocol';
import { type GatewayCredential, secretMatches } from './credentials.js';
import type { OperatorTokens } from './operator-tokens.js';

/** What an operator connection may do, and with which credential. */
export type OperatorAccess = {
  principal: OperatorScope;
  credential: CredentialKind;
  /** The operator token's name, or the Tailscale login. */
  name: string | undefined;
  expiresAt: number | undefined;
};

export type OperatorAccessResult =
  | { ok: true; access: OperatorAccess }
  | { ok: false; failure: string };

/**
 * Which operator the presented connection params make this socket: the
 * gateway's own token or password is `operator.admin`; a named token from
 * `loopgate tokens create` carries its scope and expiry. The failure text
 * names what was wrong and never echoes the secret.
 */
export function resolveOperatorAccess(
  presented: { token?: string | undefined; password?: string | undefined },
  gateway: GatewayCredential,
  tokens: Pick<OperatorTokens, 'check'>,
  now: number,
): OperatorAccessResult {
  const ownSecret = gateway.mode === 'password' ? presented.password : presented.token;
  if (ownSecret !== undefined && secretMatches(ownSecret, gateway.digest)) {
    const credential = gateway.mode === 'password' ? 'gateway-password' : 'gateway-token';
    return {
      ok: true,
      access: { principal: 'operator.admin', credential, name: undefined, expiresAt: undefined },
    };
  }
  const named = presented.token === undefined ? undefined : tokens.check(presented.token, now);
  if (named?.ok) {
    return {
      ok: true,
      access: {
        principal: named.scope,
        credential: 'operator-token',
        name: named.name,
        expiresAt: named.expiresAt,
      },
    };
  }
  if (named) {
    return {
      ok: false,
      failure: `the operator token "${named.name}" expired at ${new Date(named.expiredAt).toISOString()}`,
    };
  }
  if (ownSecret === undefined && presented.token === undefined) {
    return {
      ok: false,
      failure: `missing ${gateway.mode}: ${gateway.mode === 'password' ? 'the CLI takes --password (or --password-file, LOOPGATE_GATEWAY_PASSWORD, gateway.remote.password in remote mode)' : 'the CLI takes --token (or --token-file, LOOPGATE_GATEWAY_TOKEN, gateway.remote.token in remote mode)'}; a script passes it in connectionParams, never in the URL`,
    };
  }
  return { ok: false, failure: `invalid ${ownSecret === undefined ? 'token' : gateway.mode}` };
}
