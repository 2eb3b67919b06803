/**
 * Hostile peers (issue 12): replays findings 1, 2, 3 and 5 against a live
 * gateway process, one fresh gateway per attack, and reports what an
 * operator sees — `health` round trips p50/p99 — and the gateway's RSS
 * before, during and after, with what happened to the attacker.
 *
 *   pnpm attack                 60 s per attack (about 4.5 minutes)
 *   pnpm attack --seconds 10    shorter
 *   --only 1,3                  just those findings
 *
 * Attackers that need CPU (frame building, dialling) run in their own
 * process, so the operator being measured shares nothing with them but the
 * machine.
 */
import { parseArgs } from 'node:util';
import type { LoopgateConfigInput } from '@loopgate/protocol';
import {
  cpuSecondsOf,
  dagResultInput,
  describeOutcomes,
  type GatewayProcess,
  type Outcomes,
  openOperatorSocket,
  pairHostileNode,
  percentile,
  probeHealth,
  rssOf,
  runAttackProcess,
  startGatewayProcess,
} from '../../packages/tests/src/hardening/index.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '60' },
    only: { type: 'string', default: '1,2,3,5' },
  },
});
const seconds = Number(values.seconds);
if (!Number.isFinite(seconds) || seconds <= 0) {
  process.stderr.write('--seconds must be a positive number\n');
  process.exit(2);
}
const only = new Set(values.only.split(',').map((s) => s.trim()));
const QUIET_SECONDS = Math.min(5, seconds);
const MiB = 1024 * 1024;
const PASSWORD = 'correct-horse-battery-staple';

type Phase = { p50: number; p99: number; calls: number; rss: number; cpuSeconds: number };
type Report = {
  finding: string;
  before: Phase;
  during: Phase & { rssPeak: number };
  after: Phase;
  outcome: string;
};

type Attack = {
  finding: string;
  config?: LoopgateConfigInput;
  /** The operator's connection params, when not the generated token. */
  operatorParams?: Record<string, string>;
  /** Runs the attack for `seconds`; resolves with what happened, in words. */
  run(proc: GatewayProcess): Promise<string>;
};

const attacks: Record<string, Attack> = {
  '1': {
    finding: '1 pairing sockets, 4 × looped 6×3.7 MiB bigint-meta frames',
    run: async (proc) => {
      const outcomes = await runAttackProcess({
        kind: 'pairing-bigint-flood',
        url: proc.url,
        seconds,
        sockets: 4,
        frameBytes: 3.7 * MiB,
        framesPerSocket: 6,
      });
      return `attacking sockets: ${describeOutcomes(outcomes)}`;
    },
  },
  '2': {
    finding: '2 paired node answering with 24-level DAG results',
    run: async (proc) => {
      const node = await pairHostileNode(proc.url, proc.token, 'dag-node');
      node.answerWith((invocationId) => dagResultInput(invocationId, 24));
      const caller = await openOperatorSocket(proc.url, proc.token);
      const outcomes: Outcomes = new Map();
      const until = Date.now() + seconds * 1000;
      for (let id = 1; Date.now() < until; id++) {
        const frame = await caller.call(
          id,
          'nodes.invoke',
          {
            nodeId: 'dag-node',
            command: 'system.info',
            idempotencyKey: `dag-${id}`,
            timeoutMs: 10_000,
          },
          'mutation',
        );
        const key = frame.result ? 'ok' : (frame.error?.json.data.gatewayCode ?? 'unknown');
        outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
      }
      caller.ws.close();
      node.close();
      return `DAG results answered: ${describeOutcomes(outcomes)}; refused to the node: ${describeOutcomes(node.refusals)}`;
    },
  },
  '3': {
    finding: '3 400 idle pairing sockets from 4 addresses',
    config: { gateway: { limits: { maxConnections: 500 } } },
    run: async (proc) => {
      const crowd = runAttackProcess({
        kind: 'pairing-crowd',
        url: proc.url,
        seconds,
        sockets: 400,
        addresses: ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5'],
      });
      // A fresh operator connects every half second while the crowd pushes.
      const operators: Outcomes = new Map();
      const until = Date.now() + seconds * 1000;
      while (Date.now() < until) {
        const key = await newOperatorGetsIn(proc.url, { token: proc.token });
        operators.set(key, (operators.get(key) ?? 0) + 1);
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
      return `pairing sockets: ${describeOutcomes(await crowd)}; new operators: ${describeOutcomes(operators)}`;
    },
  },
  '5': {
    finding: '5 wrong passwords from loopback, 4 lanes',
    config: { gateway: { auth: { mode: 'password', password: PASSWORD } } },
    operatorParams: { password: PASSWORD },
    run: async (proc) => {
      const outcomes = await runAttackProcess({
        kind: 'password-guessing',
        url: proc.url,
        seconds,
        lanes: 4,
      });
      const late = await newOperatorGetsIn(proc.url, { password: PASSWORD });
      const guesses = [...outcomes.values()].reduce((a, b) => a + b, 0);
      return `guesses: ${guesses} (${(guesses / seconds).toFixed(0)}/s): ${describeOutcomes(outcomes)}; the right password on a new connection afterwards: ${late}`;
    },
  },
};

/** Whether a new operator connection with `params` is answered (`got in`), or why not. */
function newOperatorGetsIn(url: string, params: Record<string, string>): Promise<string> {
  return openOperatorSocket(url, '', { params }).then(
    async (op) => {
      // A refused or dropped call is one of the outcomes being measured, reported as 'no answer'.
      const answer = await op.call(1, 'health').catch(() => undefined);
      op.ws.close();
      return answer?.result ? 'got in' : 'no answer';
    },
    (error: Error) => error.message,
  );
}

async function quietPhase(proc: GatewayProcess, params?: Record<string, string>): Promise<Phase> {
  const cpuAtStart = cpuSecondsOf(proc.pid);
  const probe = await probeHealth(proc.url, proc.token, params ? { params } : {});
  await new Promise((resolve) => setTimeout(resolve, QUIET_SECONDS * 1000));
  const samples = await probe.stop();
  return phaseOf(samples, proc.pid, cpuAtStart);
}

function phaseOf(samples: number[], pid: number, cpuAtStart: number): Phase {
  return {
    p50: percentile(samples, 50),
    p99: percentile(samples, 99),
    calls: samples.length,
    rss: rssOf(pid),
    cpuSeconds: cpuSecondsOf(pid) - cpuAtStart,
  };
}

async function runOne(attack: Attack): Promise<Report> {
  const proc = await startGatewayProcess(attack.config ? { config: attack.config } : {});
  try {
    const params = attack.operatorParams;
    // Warm the gateway up (JIT, first connections) before the baseline.
    await quietPhase(proc, params);
    const before = await quietPhase(proc, params);
    process.stderr.write(`attack ${attack.finding}: ${seconds} s…\n`);
    const cpuAtStart = cpuSecondsOf(proc.pid);
    const probe = await probeHealth(proc.url, proc.token, params ? { params } : {});
    let rssPeak = rssOf(proc.pid);
    const sampler = setInterval(() => {
      rssPeak = Math.max(rssPeak, rssOf(proc.pid));
    }, 250);
    const outcome = await attack.run(proc);
    clearInterval(sampler);
    const during = { ...phaseOf(await probe.stop(), proc.pid, cpuAtStart), rssPeak };
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const after = await quietPhase(proc, params);
    return { finding: attack.finding, before, during, after, outcome };
  } finally {
    await proc.stop();
  }
}

const reports: Report[] = [];
for (const key of ['1', '2', '3', '5']) {
  const attack = attacks[key];
  if (attack && only.has(key)) reports.push(await runOne(attack));
}

const ms = (x: number) => `${x.toFixed(1)}`;
const mib = (x: number) => `${(x / MiB).toFixed(0)}`;
const lines = [
  `hostile peers: ${seconds} s per attack; operator health p50/p99 in ms (calls), gateway RSS in MiB`,
  '',
  '| finding | before p50/p99 | during p50/p99 | after p50/p99 | RSS before → peak during → after | growth | gateway CPU during |',
  '|---|---|---|---|---|---|---|',
  ...reports.map(
    (r) =>
      `| ${r.finding} | ${ms(r.before.p50)} / ${ms(r.before.p99)} (${r.before.calls}) | ${ms(r.during.p50)} / ${ms(r.during.p99)} (${r.during.calls}) | ${ms(r.after.p50)} / ${ms(r.after.p99)} (${r.after.calls}) | ${mib(r.before.rss)} → ${mib(r.during.rssPeak)} → ${mib(r.after.rss)} | ${r.during.rssPeak - r.before.rss >= 0 ? '+' : ''}${mib(r.during.rssPeak - r.before.rss)} | ${r.during.cpuSeconds.toFixed(1)} s of ${seconds} s |`,
  ),
  '',
  ...reports.map((r) => `- ${r.finding}: ${r.outcome}`),
  '',
];
process.stdout.write(lines.join('\n'));
