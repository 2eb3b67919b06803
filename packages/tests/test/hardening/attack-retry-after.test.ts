/**
 * A server on the gateway's address answering every upgrade with HTTP 429 and
 * a `Retry-After` of three years. A timer past 2^31 ms fires at once, so the
 * client redialled every millisecond while saying it would wait. The real
 * `loopgate node run`, which redials for as long as it runs (row 69 of
 * docs/hardening.md).
 */
import type { ChildProcess } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startScriptServer } from '../../src/hardening/index.js';
import { killChildren, makeTempDir, spawnCli, waitForOutput } from '../../src/index.js';

const children: ChildProcess[] = [];
afterEach(() => killChildren(children));

/** An HTTP server refusing every upgrade with 429 and `Retry-After: 99999999` (seconds), counting them. */
async function startRefusingServer(): Promise<{ url: string; upgrades: () => number }> {
  const code = `
    const http = require('node:http');
    let upgrades = 0;
    const server = http.createServer((req, res) => res.writeHead(404).end());
    server.on('upgrade', (req, socket) => {
      console.log('upgrade ' + ++upgrades);
      socket.end('HTTP/1.1 429 Too Many Requests\\r\\nRetry-After: 99999999\\r\\nContent-Length: 0\\r\\nConnection: close\\r\\n\\r\\n');
    });
    server.listen(0, '127.0.0.1', () => console.log('port ' + server.address().port));`;
  const server = await startScriptServer(code, children);
  return {
    url: server.url,
    upgrades: () => Number(/upgrade (\d+)\n(?![\s\S]*upgrade)/.exec(server.heard())?.[1] ?? 0),
  };
}

describe('row 69: a Retry-After too long for a timer', () => {
  it('row 69: loopgate node run told to retry after 99 999 999 s waits 5 min, and says so, instead of redialling every millisecond', async () => {
    const server = await startRefusingServer();
    const root = await makeTempDir('loopgate-retry-after-');
    await mkdir(join(root, 'state'), { mode: 0o700 });
    const node = spawnCli(['node', 'run', '--name', 'patient', '--url', server.url], {
      env: { HOME: root, LOOPGATE_STATE_DIR: join(root, 'state') },
    });
    children.push(node);
    const said = await waitForOutput(node, (t) => /refusing connections for now.*\n/.test(t), {
      stream: 'stderr',
      timeoutMs: 20_000,
    });
    expect(said).toMatch(/retrying in (300 s|5 min)/);
    // One more second: the old client had redialled a few hundred times by then.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(server.upgrades()).toBe(1);
  });
});
