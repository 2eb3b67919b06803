import { GatewayError, isOperatorScope, type OperatorScope, Principal } from '@loopgate/protocol';

/**
 * Who may enter a procedure: `pairing` (an unpaired node), `node` (a paired
 * node), or the lowest operator scope that may call it.
 *
 * Operator scopes nest — `operator.admin` ⊇ `operator.write` ⊇
 * `operator.read` — so an entry of `operator.read` admits all three, and
 * `operator.admin` admits only admin. Nodes and operators never stand in for
 * each other, and a pairing connection may only ask to be paired.
 */
export type Access = 'pairing' | 'node' | OperatorScope;

/**
 * THE authorization table: every procedure the gateway serves and who may
 * call it. This is the only place that says so — routers declare plain
 * procedures and one middleware (`router/trpc.ts`) reads this table.
 *
 * Deny by default: a procedure missing here can be called by no one, and
 * the authorization test fails until it gets an entry. `callMethod` is the
 * untyped door; the method it names is checked against its own entry, so
 * the door never widens anything.
 *
 * - `operator.read`: look, never change — health, status, events, lists,
 *   history, describe, whoami.
 * - `operator.write`: act — send, the agent and its companions, invoke a
 *   node command, reset a session.
 * - `operator.admin`: decide who gets in — pairing decisions, operator
 *   tokens, rotating the gateway token, reading the gateway log — and erase
 *   what cannot be got back: deleting a session and its transcripts (the
 *   record of what the agent did on the nodes; a reset only archives it).
 */
export const accessTable = {
  health: 'operator.read',
  status: 'operator.read',
  whoami: 'operator.read',
  events: 'operator.read',
  callMethod: 'operator.read',

  'nodes.list': 'operator.read',
  'nodes.describe': 'operator.read',
  'nodes.pair.list': 'operator.read',
  'sessions.list': 'operator.read',
  'sessions.history': 'operator.read',

  send: 'operator.write',
  agent: 'operator.write',
  'agent.wait': 'operator.write',
  'agent.get': 'operator.write',
  'agent.cancel': 'operator.write',
  'agent.events': 'operator.write',
  'nodes.invoke': 'operator.write',
  'sessions.reset': 'operator.write',

  'nodes.pair.approve': 'operator.admin',
  'nodes.pair.reject': 'operator.admin',
  'nodes.pair.remove': 'operator.admin',
  'tokens.create': 'operator.admin',
  'tokens.list': 'operator.admin',
  'tokens.revoke': 'operator.admin',
  'auth.rotateToken': 'operator.admin',
  // The log names peers, sessions and nodes: operational detail for whoever runs the gateway.
  logs: 'operator.admin',
  'sessions.delete': 'operator.admin',

  'node.hello': 'node',
  'node.invocations': 'node',
  'node.result': 'node',
  'node.progress': 'node',

  'node.pair.request': 'pairing',
} as const satisfies Record<string, Access>;

export type ProcedurePath = keyof typeof accessTable;

const SCOPE_RANK: Record<OperatorScope, number> = {
  'operator.read': 1,
  'operator.write': 2,
  'operator.admin': 3,
};

/** The table's entry for a path; undefined for a path it does not list (which no one may call). */
export function accessFor(path: string): Access | undefined {
  return Object.hasOwn(accessTable, path) ? accessTable[path as ProcedurePath] : undefined;
}

/** Whether `principal` may call the procedure at `path`. Deny by default. */
export function isAllowed(principal: Principal, path: string): boolean {
  const access = accessFor(path);
  if (access === undefined) return false;
  if (access === principal) return true;
  return (
    isOperatorScope(access) &&
    isOperatorScope(principal) &&
    SCOPE_RANK[principal] >= SCOPE_RANK[access]
  );
}

/**
 * The typed error for a call the table refuses, or undefined when it is
 * allowed: NOT_PAIRED for an unpaired node, FORBIDDEN for the wrong role or
 * too low a scope. The middleware and the transport's early check both throw
 * this, so a refusal reads the same wherever it happens.
 */
export function refusal(principal: Principal, path: string): GatewayError | undefined {
  if (isAllowed(principal, path)) return undefined;
  if (principal === 'pairing') {
    return new GatewayError(
      'NOT_PAIRED',
      'an unpaired node may only request pairing (node.pair.request)',
    );
  }
  const access = accessFor(path);
  if (access === undefined) {
    return new GatewayError(
      'FORBIDDEN',
      `"${path}" is not in the authorization table, so no one may call it`,
    );
  }
  const needs = isOperatorScope(access)
    ? `an operator with ${access} or above`
    : access === 'node'
      ? 'paired nodes'
      : 'unpaired nodes asking to pair';
  return new GatewayError(
    'FORBIDDEN',
    `"${path}" is for ${needs}; this connection is ${principal}`,
    {
      details: { required: access, principal },
    },
  );
}

/** What `principal` may not call, each with the access its entry asks for. */
export function deniedProcedures(principal: Principal): Record<string, Access> {
  const denied: Record<string, Access> = {};
  for (const [path, access] of Object.entries(accessTable) as [ProcedurePath, Access][])
    if (!isAllowed(principal, path)) denied[path] = access;
  return denied;
}

/** The principals `path` admits, lowest first (for the generated docs and the tests). */
export function allowedPrincipals(path: string): Principal[] {
  return Principal.options.filter((principal) => isAllowed(principal, path));
}
