import { createHash } from 'node:crypto';

export type ProcedureKind = 'query' | 'mutation' | 'subscription';

/**
 * Every procedure the gateway serves, by dotted path, with its kind. A client
 * built from this contract hashes it and compares with the hash the gateway
 * announces on its upgrade response (`x-loopgate-procedures`), so `loopgate
 * gateway probe` can tell a version skew from any other failure without
 * loading gateway code. The gateway test `procedure set` fails when the
 * router and this list drift apart.
 */
export const GATEWAY_PROCEDURES: Readonly<Record<string, ProcedureKind>> = {
  agent: 'mutation',
  'agent.cancel': 'mutation',
  'agent.events': 'subscription',
  'agent.get': 'query',
  'agent.wait': 'query',
  'auth.rotateToken': 'mutation',
  callMethod: 'mutation',
  events: 'subscription',
  health: 'query',
  logs: 'subscription',
  'node.hello': 'mutation',
  'node.invocations': 'subscription',
  'node.pair.request': 'subscription',
  'node.progress': 'mutation',
  'node.result': 'mutation',
  'nodes.describe': 'query',
  'nodes.invoke': 'mutation',
  'nodes.list': 'query',
  'nodes.pair.approve': 'mutation',
  'nodes.pair.list': 'query',
  'nodes.pair.reject': 'mutation',
  'nodes.pair.remove': 'mutation',
  send: 'mutation',
  'sessions.delete': 'mutation',
  'sessions.history': 'query',
  'sessions.list': 'query',
  'sessions.reset': 'mutation',
  status: 'query',
  'tokens.create': 'mutation',
  'tokens.list': 'query',
  'tokens.revoke': 'mutation',
  whoami: 'query',
};

/** A short, order-independent fingerprint of a procedure set: `sha256("path kind\n"…)`, 16 hex digits. */
export function procedureSetHash(procedures: Readonly<Record<string, ProcedureKind>>): string {
  const lines = Object.entries(procedures)
    .map(([path, kind]) => `${path} ${kind}\n`)
    .sort()
    .join('');
  return createHash('sha256').update(lines).digest('hex').slice(0, 16);
}

/** Headers every gateway HTTP answer carries (upgrade, refusal, 426): what it is, never a secret. */
export const IDENTITY_HEADERS = {
  version: 'x-loopgate-version',
  procedures: 'x-loopgate-procedures',
} as const;
