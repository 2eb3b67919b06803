import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { buildHosts, hostEntry, runHostsFromSource } from './build-hosts.js';
import { BENCH_DIR, BenchChild } from './child.js';
import type { BenchContext } from './context.js';
import { renderTables } from './report.js';
import { type BenchReport, type ShapeResult, withEarlier } from './results.js';
import { cliPathShapes } from './shapes/cli-path.js';
import { coldStartShapes } from './shapes/cold-start.js';
import { dashboardShapes } from './shapes/dashboard.js';
import { idleOperatorsShape, memoryShapes } from './shapes/memory.js';
import { nodeInvokeShapes, thousandNodesShape } from './shapes/node-shapes.js';
import { eventShapes, healthShapes, measureOperatorFrames } from './shapes/operator-shapes.js';

/**
 * `pnpm bench`: every shape against the raw-ws baseline (and stock tRPC for
 * reference) in the same run, each server in its own child process, the
 * measuring clients here. `--json` also writes bench/results/latest.json.
 */
const { values: flags } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    rounds: { type: 'string', default: '5' },
    'round-ms': { type: 'string', default: '300' },
    only: { type: 'string' },
    'cpu-prof': { type: 'boolean', default: false },
    /** Run the servers from TypeScript through tsx (profiles then name source files). */
    'from-source': { type: 'boolean', default: false },
    /** Reuse the bundles already in bench/dist (e.g. when iterating on the bench itself). */
    'no-build': { type: 'boolean', default: false },
    /** Nodes in the fleet shape (1 000 unless trying something smaller). */
    fleet: { type: 'string', default: '1000' },
    /** An earlier `results/*.json`: each ratio and figure is printed next to its value there. */
    compare: { type: 'string' },
  },
});

const startedAt = new Date();
const t0 = performance.now();
const only = flags.only ? new Set(flags.only.split(',')) : undefined;
const wants = (group: string) => !only || only.has(group);
const log = (line: string) => process.stderr.write(`${line}\n`);

const PROFILE_DIR = join(BENCH_DIR, 'results', 'profiles');
// Read before anything runs, so a wrong path fails in a second, not after the run.
const earlier = flags.compare
  ? (JSON.parse(await readFile(flags.compare, 'utf8')) as BenchReport)
  : undefined;
const token = randomBytes(24).toString('hex');
/**
 * The gateway under test: defaults, except room for what the bench does from
 * one address (127.0.0.1) that a real deployment spreads over many — the
 * 1 000-connection shapes, and the fleet's node host pairing 25 nodes at a
 * time. The per-address pairing caps (16 sockets, 4 waiting requests) exist
 * to refuse exactly that from a stranger; at their defaults every node past
 * the fourth waits out a retry backoff (1 000 nodes: 42 s instead of ~5 s).
 * The totals (`maxPairingConnections`, `maxPending`) stay at their defaults.
 */
const benchGatewayConfig = {
  gateway: {
    port: 0,
    auth: { token },
    limits: {
      maxConnectionsPerAddress: 4096,
      maxConnections: 4096,
      maxPairingConnectionsPerAddress: 64,
    },
    // the node shapes pair their nodes without an operator in the loop
    nodes: { autoApproveLoopback: true, maxPendingPerAddress: 32 },
  },
  logging: { level: 'silent' },
};

if (flags['cpu-prof']) await mkdir(PROFILE_DIR, { recursive: true });
if (!flags['no-build']) {
  const built = await buildHosts();
  log(
    `bundled the bench processes in ${built.ms.toFixed(0)} ms${flags['from-source'] ? ' (servers run from source: --from-source)' : ''}`,
  );
}
runHostsFromSource(flags['from-source']);
const spawnGateway = (limits: Record<string, number> = {}) =>
  new BenchChild(hostEntry('gateway-host'), {
    nodeArgs: [
      '--expose-gc',
      ...(flags['cpu-prof'] ? ['--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}`] : []),
    ],
    env: {
      BENCH_GATEWAY_CONFIG: JSON.stringify({
        ...benchGatewayConfig,
        gateway: {
          ...benchGatewayConfig.gateway,
          limits: { ...benchGatewayConfig.gateway.limits, ...limits },
        },
      }),
    },
  });
const spawnRawServer = (relayTo?: string) =>
  new BenchChild(hostEntry('raw-server'), {
    nodeArgs: ['--expose-gc'],
    ...(relayTo ? { env: { BENCH_RELAY_TO: relayTo } } : {}),
  });
const gateway = spawnGateway();
const rawServer = spawnRawServer();
const stockServer = new BenchChild(hostEntry('stock-trpc-server'), {
  nodeArgs: ['--expose-gc'],
});
const children = [gateway, rawServer, stockServer];

const results: ShapeResult[] = [];
const skipped: { id: string; reason: string }[] = [];
let failed = false;

async function group(id: string, run: () => Promise<ShapeResult[]>): Promise<void> {
  if (!wants(id)) return;
  log(`${id} …`);
  const started = performance.now();
  try {
    results.push(...(await run()));
    log(`${id} done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  } catch (error) {
    failed = true;
    skipped.push({
      id,
      reason: `failed: ${error instanceof Error ? error.message : String(error)}`,
    });
    log(`${id} failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  }
}

try {
  const [gatewayReady, rawReady, stockReady] = await Promise.all(children.map((c) => c.ready));
  const ctx: BenchContext = {
    rounds: Number(flags.rounds),
    roundMs: Number(flags['round-ms']),
    gateway,
    target: { url: gatewayReady!.url as string, token },
    rawServer,
    rawUrl: rawReady!.url as string,
    stockServer,
    stockUrl: stockReady!.url as string,
    spawnGateway,
    spawnRawServer,
    log,
  };
  const sizes = await measureOperatorFrames(ctx);
  log(
    `Loopgate frames: health request ${sizes.healthRequest} B, response ${sizes.healthResponse} B, event ${sizes.event} B`,
  );
  await group('health', () => healthShapes(ctx, sizes));
  await group('events', () => eventShapes(ctx, sizes));
  await group('invoke', () => nodeInvokeShapes(ctx));
  // The user's path before the shapes that open thousands of sockets: those
  // leave ~20 000 loopback connections in TIME_WAIT for a minute, and every
  // connect() then searches the ephemeral ports past them in the kernel;
  // `loopgate health` measured 355 ms (CPU 380) with them, 194 ms without.
  await group('coldstart', () => coldStartShapes(ctx));
  await group('clipath', () => cliPathShapes(ctx));
  await group('dashboard', () => dashboardShapes(ctx));
  await group('memory', () => memoryShapes(ctx));
  await group('idle', () => idleOperatorsShape(ctx));
  await group('fleet', () => thousandNodesShape(ctx, Number(flags.fleet)));
} finally {
  await Promise.all(children.map((c) => c.stop()));
}

const report: BenchReport = {
  startedAt: startedAt.toISOString(),
  durationMs: Math.round(performance.now() - t0),
  machine: {
    nproc: cpus().length,
    cpu: cpus()[0]?.model.trim() ?? 'unknown',
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    totalMemMb: Math.round(totalmem() / 2 ** 20),
  },
  rounds: Number(flags.rounds),
  results: earlier ? withEarlier(results, earlier) : results,
  skipped,
  pass: !failed && results.every((r) => r.pass),
  ...(earlier ? { comparedWith: { file: flags.compare!, startedAt: earlier.startedAt } } : {}),
};

if (flags.json) {
  const path = join(BENCH_DIR, 'results', 'latest.json');
  await mkdir(join(BENCH_DIR, 'results'), { recursive: true });
  await writeFile(path, `${JSON.stringify(report, null, 2)}\n`);
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  log(`\n${renderTables(report)}\n\nwrote ${path}`);
} else {
  process.stdout.write(`${renderTables(report)}\n`);
}
process.exitCode = report.pass ? 0 : 1;
