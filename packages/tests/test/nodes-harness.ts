import type { ChildProcess } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { createGatewayClient, type GatewayClient } from '@loopgate/client';
import { makeTempDir, spawnCli, type TestGateway, waitFor } from '../src/index.js';

/**
 * Helpers for the node end-to-end tests: real `loopgate node run` child
 * processes whose `--json` event lines the test reads, and an operator
 * client of the real gateway.
 */

export type NodeEventLine = { type: string; ts: number; [key: string]: unknown };

export type NodeProcess = {
  child: ChildProcess;
  name: string;
  stateDir: string;
  events: NodeEventLine[];
  stderr(): string;
  /** Resolves with the first event (already seen or still to come) matching `predicate`. */
  waitForEvent(
    predicate: (event: NodeEventLine) => boolean,
    what: string,
    timeoutMs?: number,
  ): Promise<NodeEventLine>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stop(): Promise<void>;
};

/** Env for every CLI child: its own state dir, so nothing is read from ~/.loopgate. */
export async function cliEnv(): Promise<NodeJS.ProcessEnv> {
  return { LOOPGATE_STATE_DIR: await makeTempDir('loopgate-cli-') };
}

export function operatorClient(gw: TestGateway): GatewayClient {
  return createGatewayClient({ url: gw.url, token: gw.token, clientName: 'nodes-test' });
}

/** Starts `loopgate node run --json` against `gw` as a real child process. */
export async function startNodeProcess(
  gw: TestGateway,
  options: {
    name: string;
    args?: string[];
    stateDir?: string;
    url?: string;
    /** Extra environment for the node process (PATH, for one). */
    env?: NodeJS.ProcessEnv;
  },
): Promise<NodeProcess> {
  const stateDir = options.stateDir ?? (await makeTempDir('loopgate-node-'));
  const child = spawnCli(
    [
      'node',
      'run',
      '--url',
      options.url ?? gw.url,
      '--name',
      options.name,
      '--state-dir',
      stateDir,
      '--json',
      ...(options.args ?? []),
    ],
    { env: { ...(await cliEnv()), ...options.env } },
  );
  const events: NodeEventLine[] = [];
  const listeners = new Set<() => void>();
  let partial = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    partial += chunk.toString();
    const lines = partial.split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      if (!line.trim()) continue;
      events.push(JSON.parse(line) as NodeEventLine);
    }
    for (const listener of listeners) listener();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      resolve({ code, signal });
      for (const listener of listeners) listener();
    });
  });
  const waitForEvent: NodeProcess['waitForEvent'] = (predicate, what, timeoutMs = 20_000) =>
    new Promise((resolve, reject) => {
      const check = () => {
        const found = events.find(predicate);
        if (found) {
          done();
          resolve(found);
        } else if (child.exitCode !== null || child.signalCode !== null) {
          done();
          reject(
            new Error(`node ${options.name} exited before ${what}; stderr: ${stderr.slice(-2000)}`),
          );
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(
          new Error(
            `timed out waiting for ${what} from node ${options.name}; stderr: ${stderr.slice(-2000)}`,
          ),
        );
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        listeners.delete(check);
      };
      listeners.add(check);
      check();
    });
  return {
    child,
    name: options.name,
    stateDir,
    events,
    stderr: () => stderr,
    waitForEvent,
    exited,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
        await exited;
        clearTimeout(timer);
      }
      if (!options.stateDir) await rm(stateDir, { recursive: true, force: true });
    },
  };
}

/** A node process that asked to pair, approved by `op`, and seen online by the gateway. */
export async function startPairedNode(
  gw: TestGateway,
  op: GatewayClient,
  options: {
    name: string;
    args?: string[];
    commands?: string[];
    stateDir?: string;
    env?: NodeJS.ProcessEnv;
  },
): Promise<NodeProcess & { nodeId: string }> {
  const node = await startNodeProcess(gw, options);
  const pending = await node.waitForEvent((e) => e.type === 'pairing.pending', 'a pairing request');
  const approved = await op.nodes.pair.approve.mutate({
    requestId: String(pending.requestId),
    ...(options.commands ? { commands: options.commands } : {}),
  });
  await waitForOnline(op, options.name);
  return Object.assign(node, { nodeId: approved.nodeId });
}

/** The gateway's own view: the node has an invocation stream attached. */
export async function waitForOnline(
  op: GatewayClient,
  name: string,
  timeoutMs = 20_000,
): Promise<void> {
  await waitFor(
    async () => (await op.nodes.list.query()).some((n) => n.name === name && n.state === 'online'),
    {
      timeoutMs,
      what: `node ${name} online`,
    },
  );
}
