import { type ChildProcess, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { REPO_ROOT, waitForOutput } from '../cli-process.js';

/** `ws` as the test package resolves it, for a server script to `require`. */
export const WS_ENTRY = createRequire(join(REPO_ROOT, 'packages/tests/package.json')).resolve('ws');

export type ScriptServer = {
  port: number;
  /** `ws://127.0.0.1:<port>` */
  url: string;
  /** All the script printed so far. */
  heard: () => string;
};

/**
 * A stand-in server (a hostile gateway, a squatter on its port) run by
 * `code` in its own Node process, as `uid` when given (with setpriv). The
 * script prints `port <n>` once it listens; what else it prints is the
 * test's record of what reached it. The child goes into `children` for the
 * test to kill.
 */
export async function startScriptServer(
  code: string,
  children: ChildProcess[],
  options: { uid?: number } = {},
): Promise<ScriptServer> {
  const argv = ['-e', code];
  const { uid } = options;
  const child =
    uid === undefined
      ? spawn(process.execPath, argv)
      : spawn('setpriv', [
          `--reuid=${uid}`,
          `--regid=${uid}`,
          '--clear-groups',
          process.execPath,
          ...argv,
        ]);
  children.push(child);
  let out = '';
  child.stdout?.on('data', (d) => {
    out += d;
  });
  const ready = await waitForOutput(child, (t) => /port \d+/.test(t), { timeoutMs: 10_000 });
  const port = Number(/port (\d+)/.exec(ready)![1]);
  return { port, url: `ws://127.0.0.1:${port}`, heard: () => out };
}

/**
 * A WebSocket listener on a free loopback port that answers nothing and
 * prints `upgrade <path>` for every connection and `heard <frame>` for every
 * frame: what a squatter or a hostile gateway would get from a client.
 */
export function startFrameRecorder(
  children: ChildProcess[],
  options: { uid?: number } = {},
): Promise<ScriptServer> {
  const code = `
    const { WebSocketServer } = require(${JSON.stringify(WS_ENTRY)});
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    wss.on('listening', () => console.log('port ' + wss.address().port));
    wss.on('connection', (ws, req) => {
      console.log('upgrade ' + req.url);
      ws.on('message', (d) => console.log('heard ' + d));
    });`;
  return startScriptServer(code, children, options);
}
