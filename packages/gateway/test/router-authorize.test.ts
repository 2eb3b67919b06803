import { GatewayError, Principal } from '@loopgate/protocol';
import { describe, expect, it } from 'vitest';
import { isAllowed } from '../src/authorization/index.js';
import { appRouter } from '../src/router/app-router.js';
import type { GatewayContext } from '../src/router/context.js';
import { createCallerFactory } from '../src/router/trpc.js';

/**
 * The router's own check, without the transport in front of it. Over a
 * socket the transport refuses a call before decoding its input, so a
 * router whose middleware let a paired node (or an operator) through would
 * go unnoticed by the wire tests; in-process callers and callMethod's inner
 * call have only this layer. Each procedure is called with services that
 * throw when touched: a refusal must come before any of them is reached.
 */
const createCaller = createCallerFactory(appRouter);
const paths = Object.keys(appRouter._def.procedures).sort();

function contextFor(principal: Principal): GatewayContext {
  const untouchable = new Proxy(
    {},
    {
      get(_, name) {
        throw new Error(`a refused call reached services.${String(name)}`);
      },
    },
  );
  return {
    conn: {
      id: 'c1',
      role: principal === 'pairing' || principal === 'node' ? principal : 'operator',
      principal,
      credential: principal === 'node' ? 'node-key' : 'gateway-token',
      credentialName: undefined,
      expiresAt: undefined,
      tls: false,
      remoteAddress: '127.0.0.1',
      isLoopback: true,
      clientName: undefined,
      clientVersion: undefined,
      nodeId: principal === 'node' ? 'node-1' : undefined,
      nodeKey: undefined,
      connectedAt: 0,
      close: () => {},
      closed: new AbortController().signal,
    },
    services: untouchable as GatewayContext['services'],
  } as GatewayContext;
}

async function refusalOf(principal: Principal, path: string): Promise<unknown> {
  const caller = createCaller(contextFor(principal)) as unknown as Record<string, unknown>;
  const procedure = path
    .split('.')
    .reduce<unknown>((node, key) => (node as Record<string, unknown>)[key], caller) as (
    input: unknown,
  ) => Promise<unknown>;
  return procedure(undefined).then(
    () => undefined,
    (error: unknown) => error,
  );
}

describe('the router middleware on its own', () => {
  it('refuses every procedure a principal may not call, before any service is touched', async () => {
    const wrong: string[] = [];
    let refused = 0;
    for (const principal of Principal.options) {
      for (const path of paths) {
        if (isAllowed(principal, path)) continue;
        const error = await refusalOf(principal, path);
        const code = (error as { cause?: unknown })?.cause;
        const expected = principal === 'pairing' ? 'NOT_PAIRED' : 'FORBIDDEN';
        if (!(code instanceof GatewayError) || code.code !== expected)
          wrong.push(`${principal} → ${path}: ${String((error as Error)?.message ?? error)}`);
        else refused++;
      }
    }
    expect(wrong, 'calls the router let through or refused the wrong way').toEqual([]);
    // Node-only procedures exist and operators are among the refused: the loop checked something.
    expect(refused).toBeGreaterThan(paths.length);
  });

  it('a paired node is refused an operator procedure, and an operator a node-only one', async () => {
    const nodeCallsHealth = (await refusalOf('node', 'health')) as { cause?: GatewayError };
    expect(nodeCallsHealth?.cause?.code).toBe('FORBIDDEN');
    expect(nodeCallsHealth.cause?.message).toMatch(/operator\.read or above.*node/);
    const operatorCallsResult = (await refusalOf('operator.admin', 'node.result')) as {
      cause?: GatewayError;
    };
    expect(operatorCallsResult?.cause?.code).toBe('FORBIDDEN');
    expect(operatorCallsResult.cause?.message).toMatch(/paired nodes/);
  });
});
