import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GatewayError } from '@loopgate/protocol';
import { describe, expect, it } from 'vitest';
import { accessFor } from '../src/authorization/index.js';
import { nodeErrorCode, toOpenClawError } from '../src/openclaw/errors.js';
import { ConnectParams, jsonDepthWithin } from '../src/openclaw/frames.js';
import { grantedScope, scopesOf } from '../src/openclaw/handshake.js';
import { openClawMethods } from '../src/openclaw/methods.js';
import { nodeDeclaration, nodeName } from '../src/openclaw/node-declaration.js';
import { translateInvokeResult } from '../src/openclaw/node-results.js';

/** The pure parts of the OpenClaw endpoint; the wire is tested in packages/tests (attack-openclaw, openclaw-compat). */

const connect = (over: Record<string, unknown> = {}) =>
  ConnectParams.parse({
    minProtocol: 4,
    maxProtocol: 4,
    client: { id: 'node-host', version: '1', platform: 'linux', mode: 'node' },
    role: 'node',
    ...over,
  });

describe('jsonDepthWithin', () => {
  it('counts nesting outside strings only, escapes included', () => {
    expect(jsonDepthWithin('[[1]]', 2)).toBe(true);
    expect(jsonDepthWithin('[[[1]]]', 2)).toBe(false);
    expect(jsonDepthWithin('{"a":"[[[[[[\\"[["}', 1)).toBe(true);
    expect(jsonDepthWithin(`${'['.repeat(65)}${']'.repeat(65)}`, 64)).toBe(false);
  });
});

describe('node names and declarations', () => {
  it('makes a display name a node name, or falls back to the device id', () => {
    expect(
      nodeName(connect({ client: { ...connect().client, displayName: "Peter's MacBook!" } })),
    ).toBe('Peter-s-MacBook');
    const device = {
      id: 'ab'.repeat(32),
      publicKey: 'A'.repeat(43),
      signature: 'A'.repeat(86),
      signedAt: 1,
      nonce: 'n',
    };
    expect(nodeName(connect({ client: { ...connect().client, displayName: '!!!' }, device }))).toBe(
      `openclaw-${'ab'.repeat(6)}`,
    );
  });

  it('keeps only valid, distinct command names', () => {
    const declared = nodeDeclaration(
      connect({ commands: ['system.run', 'system.run', 'Bad Name', 'mcp.tools.call.v1'] }),
    );
    expect(declared.commands).toEqual(['system.run', 'mcp.tools.call.v1']);
  });
});

describe('operator scopes', () => {
  it('grants what was asked, capped by the credential; read when nothing known was asked', () => {
    expect(grantedScope('operator.admin', ['operator.read'])).toBe('operator.read');
    expect(grantedScope('operator.read', ['operator.admin'])).toBe('operator.read');
    expect(grantedScope('operator.admin', ['operator.pairing'])).toBe('operator.read');
    expect(grantedScope('operator.write', ['operator.write', 'constructor'])).toBe(
      'operator.write',
    );
    expect(scopesOf('operator.write')).toEqual(['operator.read', 'operator.write']);
  });
});

describe('errors both ways', () => {
  it('Loopgate codes become OpenClaw codes, keeping the Loopgate one', () => {
    const forbidden = toOpenClawError(
      new GatewayError('FORBIDDEN', 'no', {
        details: { required: 'operator.write', principal: 'operator.read' },
      }),
    );
    expect(forbidden.toFrame()).toMatchObject({
      code: 'FORBIDDEN',
      details: { code: 'MISSING_SCOPE', missingScope: 'operator.write', loopgateCode: 'FORBIDDEN' },
    });
    expect(toOpenClawError(new GatewayError('NOT_PAIRED', 'x')).toFrame()).toMatchObject({
      code: 'NOT_PAIRED',
      details: { code: 'PAIRING_REQUIRED' },
    });
    expect(
      toOpenClawError(
        new GatewayError('RATE_LIMITED', 'x', { details: { retryAfterMs: 5 } }),
      ).toFrame(),
    ).toMatchObject({
      code: 'UNAVAILABLE',
      retryable: true,
      retryAfterMs: 5,
      details: { code: 'AUTH_RATE_LIMITED' },
    });
    expect(toOpenClawError(new GatewayError('NODE_DISCONNECTED', 'x')).code).toBe('UNAVAILABLE');
    expect(toOpenClawError(new Error('secret path /etc')).toFrame()).toEqual({
      code: 'UNAVAILABLE',
      message: 'internal error',
      details: { loopgateCode: 'INTERNAL' },
      retryable: true,
    });
  });

  it("a node's codes come back as Loopgate node codes", () => {
    expect(nodeErrorCode('INVALID_REQUEST')).toBe('BAD_REQUEST');
    expect(nodeErrorCode('NOT_PAIRED')).toBe('FORBIDDEN');
    expect(nodeErrorCode('UNAVAILABLE')).toBe('UNAVAILABLE');
    expect(nodeErrorCode('bad code with spaces')).toBe('COMMAND_FAILED');
    expect(nodeErrorCode(undefined)).toBe('COMMAND_FAILED');
  });

  it('translates results: payloadJSON decoded, too deep or not JSON an INVALID_RESULT failure', () => {
    expect(
      translateInvokeResult({ id: 'i', nodeId: 'd', ok: true, payloadJSON: '{"a":1}' }).loopgate,
    ).toEqual({
      invocationId: 'i',
      ok: true,
      payload: { a: 1 },
    });
    expect(
      translateInvokeResult({ id: 'i', nodeId: 'd', ok: true, payloadJSON: '{' }).loopgate,
    ).toMatchObject({
      ok: false,
      error: { code: 'INVALID_RESULT' },
    });
    expect(
      translateInvokeResult({
        id: 'i',
        nodeId: 'd',
        ok: false,
        error: { code: 'INVALID_REQUEST', message: 'm' },
      }).loopgate,
    ).toEqual({
      invocationId: 'i',
      ok: false,
      error: { code: 'BAD_REQUEST', message: 'm', details: { openclawCode: 'INVALID_REQUEST' } },
    });
  });
});

describe('docs/openclaw-compat.md', () => {
  const DOC = join(dirname(fileURLToPath(import.meta.url)), '../../../docs/openclaw-compat.md');

  it('lists every method served, each under the procedure that authorizes it, and no other', async () => {
    const doc = await readFile(DOC, 'utf8');
    const section = doc.slice(doc.indexOf('## Methods'), doc.indexOf('## Events'));
    const documented = new Map<string, string | undefined>();
    for (const row of section.split('\n').filter((line) => line.startsWith('| `'))) {
      const [methods, procedure] = row.split('|').slice(1, 3);
      const served = procedure?.match(/^ `([a-z.]+)`/)?.[1];
      for (const [, name] of methods!.matchAll(/`([A-Za-z.]+)`/g)) documented.set(name!, served);
    }
    documented.delete('connect');
    const served = Object.fromEntries(
      Object.entries(openClawMethods).map(([name, m]) => [name, m.procedure]),
    );
    expect(Object.fromEntries(documented)).toEqual(served);
    // Each is served under a procedure the authorization table knows (deny by default otherwise).
    for (const procedure of Object.values(served)) expect(accessFor(procedure)).toBeDefined();
  });
});
