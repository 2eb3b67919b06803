import { readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Principal } from '@loopgate/protocol';
import { describe, expect, it } from 'vitest';
import {
  accessTable,
  allowedPrincipals,
  deniedProcedures,
  isAllowed,
  refusal,
  renderAccessTable,
} from '../src/authorization/index.js';
import { appRouter } from '../src/router/app-router.js';
import type { GatewayContext } from '../src/router/context.js';
import { createCallerFactory } from '../src/router/trpc.js';

/**
 * The table itself, without sockets: it covers exactly the router's
 * procedures, denies what it does not list, and the scopes nest. The
 * over-the-wire walk of every procedure as every principal is
 * `packages/tests/test/authorization.test.ts`.
 */
const routerPaths = Object.keys(appRouter._def.procedures).sort();
const tablePaths = Object.keys(accessTable).sort();

describe('the authorization table', () => {
  it('has an entry for every procedure the router serves (deny by default needs no one forgotten)', () => {
    const missing = routerPaths.filter((path) => !Object.hasOwn(accessTable, path));
    expect(missing, 'procedures no one may call: add them to access-table.ts').toEqual([]);
  });

  it('lists no procedure the router does not serve', () => {
    const stale = tablePaths.filter((path) => !routerPaths.includes(path));
    expect(stale).toEqual([]);
  });

  it('denies a path it does not list to every principal, with a reason', () => {
    for (const principal of Principal.options) {
      expect(isAllowed(principal, 'nodes.secretBackdoor')).toBe(false);
      expect(refusal(principal, 'nodes.secretBackdoor')?.code).toBe(
        principal === 'pairing' ? 'NOT_PAIRED' : 'FORBIDDEN',
      );
    }
    // Inherited object keys are not entries.
    expect(isAllowed('operator.admin', 'toString')).toBe(false);
    expect(isAllowed('operator.admin', '__proto__')).toBe(false);
  });

  it('nests operator scopes: admin ⊇ write ⊇ read, and no scope reaches node or pairing procedures', () => {
    for (const path of tablePaths) {
      const allowed = allowedPrincipals(path);
      if (allowed.includes('operator.read')) expect(allowed).toContain('operator.write');
      if (allowed.includes('operator.write')) expect(allowed).toContain('operator.admin');
      const nodeOrPairing = allowed.includes('node') || allowed.includes('pairing');
      const operator = allowed.some((p) => p.startsWith('operator.'));
      expect(nodeOrPairing && operator, `${path} mixes nodes and operators`).toBe(false);
    }
  });

  it("puts the issue's examples where it says", () => {
    expect(allowedPrincipals('health')).toEqual([
      'operator.read',
      'operator.write',
      'operator.admin',
    ]);
    expect(allowedPrincipals('nodes.invoke')).toEqual(['operator.write', 'operator.admin']);
    expect(allowedPrincipals('send')).toEqual(['operator.write', 'operator.admin']);
    expect(allowedPrincipals('nodes.pair.approve')).toEqual(['operator.admin']);
    expect(allowedPrincipals('auth.rotateToken')).toEqual(['operator.admin']);
    expect(allowedPrincipals('node.result')).toEqual(['node']);
    expect(allowedPrincipals('node.pair.request')).toEqual(['pairing']);
  });

  it('names what was needed in a FORBIDDEN refusal', () => {
    const denied = refusal('operator.read', 'nodes.invoke');
    expect(denied?.code).toBe('FORBIDDEN');
    expect(denied?.message).toMatch(/operator\.write or above.*operator\.read/);
    expect(refusal('node', 'health')?.message).toMatch(/operator\.read or above.*node/);
    expect(refusal('operator.admin', 'node.result')?.message).toMatch(/paired nodes/);
    expect(refusal('pairing', 'health')?.code).toBe('NOT_PAIRED');
  });
});

describe('refusals', () => {
  it('refuses exactly what the table denies: no refusal for an allowed call', () => {
    for (const principal of Principal.options) {
      for (const path of tablePaths) {
        expect(refusal(principal, path) === undefined, `${principal} → ${path}`).toBe(
          isAllowed(principal, path),
        );
      }
    }
  });

  it('says why in each kind of refusal, with what was required in the details', () => {
    expect(refusal('pairing', 'health')?.message).toBe(
      'an unpaired node may only request pairing (node.pair.request)',
    );
    const unlisted = refusal('operator.admin', 'nodes.secretBackdoor');
    expect(unlisted?.message).toBe(
      '"nodes.secretBackdoor" is not in the authorization table, so no one may call it',
    );
    expect(unlisted?.details).toBeUndefined();
    const nodeOnly = refusal('operator.admin', 'node.result');
    expect(nodeOnly?.message).toBe(
      '"node.result" is for paired nodes; this connection is operator.admin',
    );
    expect(nodeOnly?.details).toEqual({ required: 'node', principal: 'operator.admin' });
    const pairingOnly = refusal('node', 'node.pair.request');
    expect(pairingOnly?.message).toBe(
      '"node.pair.request" is for unpaired nodes asking to pair; this connection is node',
    );
    expect(pairingOnly?.details).toEqual({ required: 'pairing', principal: 'node' });
    const scope = refusal('operator.read', 'nodes.invoke');
    expect(scope?.message).toBe(
      '"nodes.invoke" is for an operator with operator.write or above; this connection is operator.read',
    );
    expect(scope?.details).toEqual({ required: 'operator.write', principal: 'operator.read' });
  });

  it('lists what each principal may not call, with the access each entry asks for', () => {
    for (const principal of Principal.options) {
      const denied = deniedProcedures(principal);
      expect(Object.keys(denied).sort()).toEqual(
        tablePaths.filter((path) => !isAllowed(principal, path)),
      );
      for (const [path, access] of Object.entries(denied))
        expect(access).toBe(accessTable[path as keyof typeof accessTable]);
    }
    expect(deniedProcedures('operator.read')['nodes.invoke']).toBe('operator.write');
    expect(deniedProcedures('operator.admin')).not.toHaveProperty('nodes.pair.approve');
  });
});

describe('the authorization middleware', () => {
  it('refuses a call on a socket whose token expired after it connected, and closes that socket', async () => {
    const closes: { code: number; reason: string }[] = [];
    const ctx = {
      conn: {
        id: 'c1',
        role: 'operator',
        principal: 'operator.admin',
        credential: 'operator-token',
        credentialName: 'ci',
        // Past the timer's reach when it connected (weeks out), and now behind us.
        expiresAt: Date.now() - 1,
        tls: false,
        remoteAddress: '127.0.0.1',
        isLoopback: true,
        clientName: undefined,
        clientVersion: undefined,
        nodeId: undefined,
        connectedAt: 0,
        close: (code: number, reason: string) => closes.push({ code, reason }),
        closed: new AbortController().signal,
      },
      services: { health: () => ({ ok: true }) },
    } as unknown as GatewayContext;
    const caller = createCallerFactory(appRouter)(ctx);
    const error = await caller.health().then(
      () => undefined,
      (e: unknown) => e as { cause?: { code?: string; message?: string } },
    );
    expect(error?.cause?.code).toBe('UNAUTHORIZED');
    expect(error?.cause?.message).toMatch(/operator token "ci" expired at/);
    expect(closes).toEqual([
      {
        code: 4001,
        reason: expect.stringMatching(/^UNAUTHORIZED: the operator token "ci" expired/),
      },
    ]);
  });
});

/**
 * docs/security.md embeds the generated table. `pnpm docs:security`
 * (LOOPGATE_UPDATE_DOCS=1 on this file) rewrites it.
 */
const DOC = join(dirname(fileURLToPath(import.meta.url)), '../../../docs/security.md');
const START =
  '<!-- access-table:start (generated from packages/gateway/src/authorization/access-table.ts) -->';
const END = '<!-- access-table:end -->';

describe('docs/security.md', () => {
  it('shows the table exactly as the module has it', async () => {
    const doc = await readFile(DOC, 'utf8');
    const start = doc.indexOf(START);
    const end = doc.indexOf(END);
    expect(start, `docs/security.md lacks ${START}`).toBeGreaterThanOrEqual(0);
    expect(end).toBeGreaterThan(start);
    const expected = `${START}\n${renderAccessTable()}\n${END}`;
    if (process.env.LOOPGATE_UPDATE_DOCS === '1') {
      await writeFile(DOC, doc.slice(0, start) + expected + doc.slice(end + END.length));
      return;
    }
    expect(doc.slice(start, end + END.length)).toBe(expected);
  });
});
