/**
 * A hostile gateway's answer, or that of whoever answers on its port: a few
 * hundred bytes whose superjson `referentialEqualities` name a tree of 2^40
 * values. A client that prints or checks the answer walks the whole tree. The
 * real CLI against a stand-in server speaking tRPC's WebSocket format (row 66
 * of docs/hardening.md).
 */
import type { ChildProcess } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type ScriptServer, startScriptServer, WS_ENTRY } from '../../src/hardening/index.js';
import { killChildren, makeTempDir, runCli } from '../../src/index.js';

const DEPTH = 40;
const children: ChildProcess[] = [];
afterEach(() => killChildren(children));

/**
 * Answers every request with `n0 … n40`, each `{a, b}`, and annotations
 * saying both of n<i+1>'s fields hold n<i>: n40 is then a tree of 2^41 values.
 */
function startSharingServer(): Promise<ScriptServer> {
  const code = `
    const { WebSocketServer } = require(${JSON.stringify(WS_ENTRY)});
    const json = {}, shared = {};
    for (let i = 0; i <= ${DEPTH}; i++) json['n' + i] = { a: 0, b: 0 };
    for (let i = 0; i < ${DEPTH}; i++) shared['n' + i] = ['n' + (i + 1) + '.a', 'n' + (i + 1) + '.b'];
    const data = { json, meta: { referentialEqualities: shared } };
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    wss.on('listening', () => console.log('port ' + wss.address().port));
    wss.on('connection', (ws) => ws.on('message', (d) => {
      let m;
      try { m = JSON.parse(String(d)); } catch { return; }
      if (m && m.id !== undefined) {
        console.log('answered ' + m.id);
        ws.send(JSON.stringify({ id: m.id, jsonrpc: '2.0', result: { type: 'data', data } }));
      }
    }));`;
  return startScriptServer(code, children);
}

describe('row 66: an answer whose shared references name a huge tree', () => {
  it('row 66: loopgate gateway call --json prints a 2^40-value answer as the JSON it carried, in bounded time', async () => {
    const server = await startSharingServer();
    const root = await makeTempDir('loopgate-sharing-');
    await mkdir(join(root, 'state'), { mode: 0o700 });
    const result = await runCli(['gateway', 'call', 'health', '--json', '--url', server.url], {
      env: {
        HOME: root,
        LOOPGATE_STATE_DIR: join(root, 'state'),
        LOOPGATE_GATEWAY_TOKEN: 'lg_a-token-for-the-stand-in',
      },
      // Walking the tree would take hours; the old CLI was still spinning when killed.
      timeoutMs: 30_000,
    });
    expect(server.heard()).toContain('answered');
    expect(result.code, result.stderr).toBe(0);
    const printed = JSON.parse(result.stdout) as Record<string, unknown>;
    expect(printed[`n${DEPTH}`]).toEqual({ a: 0, b: 0 });
    expect(result.stdout.length).toBeLessThan(10_000);
  });
});
