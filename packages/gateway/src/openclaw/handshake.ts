import { GatewayError, type OperatorScope } from '@loopgate/protocol';
import { OpenClawError, toOpenClawError } from './errors.js';
import { ConnectParams } from './frames.js';

/**
 * The pure parts of the `connect` handshake: reading its params, the
 * protocol version, and what an operator's credential and requested scopes
 * come to (docs/gateway/protocol/handshake.md in the `openclaw` package).
 */

/** The protocol versions served: OpenClaw's current one, and the one before it for node hosts. */
const PROTOCOL = 4;
const NODE_MIN_PROTOCOL = 3;

export function parseConnect(params: unknown): ConnectParams {
  const parsed = ConnectParams.safeParse(params);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues
    .slice(0, 5)
    .map((i) => `${i.path.join('.') || 'params'}: ${i.message}`);
  throw new OpenClawError('INVALID_REQUEST', `invalid connect params: ${issues.join('; ')}`, {
    loopgateCode: 'BAD_REQUEST',
  });
}

/** v4 for everyone; node hosts may still speak v3 (OpenClaw's N-1 node window). */
export function negotiateProtocol(params: ConnectParams): number {
  const { minProtocol: min, maxProtocol: max } = params;
  if (min <= PROTOCOL && PROTOCOL <= max) return PROTOCOL;
  const nodeHost = params.role === 'node' && params.client.mode === 'node';
  if (nodeHost && min <= NODE_MIN_PROTOCOL && NODE_MIN_PROTOCOL <= max) return NODE_MIN_PROTOCOL;
  throw new OpenClawError('INVALID_REQUEST', `protocol mismatch: this gateway speaks ${PROTOCOL}`, {
    code: 'PROTOCOL_MISMATCH',
    expectedProtocol: PROTOCOL,
    loopgateCode: 'BAD_REQUEST',
  });
}

/** A refused operator credential, with the `details.code` OpenClaw clients branch on. */
export function authRefusal(error: unknown, params: ConnectParams): OpenClawError {
  const refused = toOpenClawError(error);
  if (!(error instanceof GatewayError) || error.code !== 'UNAUTHORIZED') return refused;
  const presented = params.auth?.token !== undefined || params.auth?.password !== undefined;
  const code = !presented
    ? 'AUTH_TOKEN_MISSING'
    : params.auth?.token !== undefined
      ? 'AUTH_TOKEN_MISMATCH'
      : 'AUTH_PASSWORD_MISMATCH';
  return new OpenClawError('INVALID_REQUEST', `unauthorized: ${error.message}`, {
    ...refused.details,
    code,
  });
}

const RANK: Record<OperatorScope, number> = {
  'operator.read': 0,
  'operator.write': 1,
  'operator.admin': 2,
};

/**
 * The scope a socket gets: what it asked for (the highest of read, write,
 * admin among its `scopes`; read when it named none of them), never more than
 * its credential carries.
 */
export function grantedScope(held: OperatorScope, requested: readonly string[]): OperatorScope {
  let asked: OperatorScope = 'operator.read';
  for (const scope of requested) {
    if (Object.hasOwn(RANK, scope) && RANK[scope as OperatorScope] > RANK[asked])
      asked = scope as OperatorScope;
  }
  return RANK[asked] <= RANK[held] ? asked : held;
}

/** An operator scope with the ones it includes, as OpenClaw lists a socket's scopes. */
export function scopesOf(scope: OperatorScope): string[] {
  return (Object.keys(RANK) as OperatorScope[]).filter((s) => RANK[s] <= RANK[scope]);
}
