import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createNode, type LoopgateNode } from '@loopgate/node';
import { cpuMicros, serveParent, settledRss } from '../child.js';

/**
 * Real nodes in their own process: `count` `createNode` instances, each with
 * its own connection and the one command the bench invokes (`bench.echo`,
 * which returns its params). The gateway auto-approves loopback pairing for
 * the bench, so each node pairs, connects and goes online by itself.
 */
const url = process.env.BENCH_GATEWAY_URL!;
const count = Number(process.env.BENCH_NODE_COUNT ?? 1);
const prefix = process.env.BENCH_NODE_PREFIX ?? `bench-${process.pid}`;
/** Nodes paired and started at once while coming up. */
const startConcurrency = 25;

const stateDir = await mkdtemp(join(tmpdir(), 'loopgate-bench-nodes-'));
const nodes: LoopgateNode[] = [];
let failures = 0;
const startFailures: string[] = [];
const started = performance.now();

let stopped = false;
async function stop(): Promise<void> {
  if (stopped) return;
  stopped = true;
  // Teardown: a node that fails to stop is gone with this process anyway.
  await Promise.all(nodes.map((n) => n.stop().catch(() => {})));
  await rm(stateDir, { recursive: true, force: true });
}

// Serve (and watch for the bench going away) before the slow part, so an
// interrupted bench never leaves a node host behind.
serveParent(
  {
    rss: () => ({ rss: settledRss() }),
    cpu: () => ({ cpuUs: cpuMicros() }),
    status: () => ({
      online: nodes.filter((n) => n.status === 'online').length,
      failures,
    }),
  },
  stop,
);
for (let i = 0; i < count; i++) {
  nodes.push(
    createNode({
      name: `${prefix}-${i}`,
      url,
      stateDir,
      maxConcurrent: 256,
      commands: { 'bench.echo': (params: unknown) => params },
      onEvent: (event) => {
        if (event.type === 'status' && event.error) failures++;
      },
    }),
  );
}
for (let i = 0; i < nodes.length; i += startConcurrency) {
  await Promise.all(
    nodes.slice(i, i + startConcurrency).map((n) =>
      n.start().catch((error: unknown) => {
        startFailures.push(error instanceof Error ? error.message : String(error));
      }),
    ),
  );
}

process.send?.({
  type: 'ready',
  names: nodes.map((n) => n.name),
  nodeIds: nodes.map((n) => n.nodeId),
  startMs: Math.round(performance.now() - started),
  startFailures: startFailures.slice(0, 5),
  startFailureCount: startFailures.length,
});
