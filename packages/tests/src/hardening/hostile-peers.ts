/**
 * The attacks of issue 12 as reusable pieces, for the hardening tests
 * (`hostile-peers.test.ts`) and `pnpm attack`: each speaks the real wire
 * format over real sockets, the way a peer on the same host or network would.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NodeKey } from '@loopgate/node';
import WebSocket from 'ws';
import { sourceNodeArgs } from '../cli-process.js';
import type { AttackSpec } from './attack-child.js';
import {
  nodeParams,
  type OperatorSocket,
  openOperatorSocket,
  proveNodeOnOpen,
  resultData,
} from './operator-socket.js';

/** Resident set size of a process, from /proc (no GC forced: what the host sees). */
export function rssOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = /VmRSS:\s+(\d+)\s+kB/.exec(status)?.[1];
  if (kib === undefined) throw new Error(`no VmRSS for process ${pid}`);
  return Number(kib) * 1024;
}

/** CPU seconds (user + system) a process has used so far, from /proc. */
export function cpuSecondsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may contain spaces) start after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

export type LatencyProbe = {
  /** Stops probing; resolves with every `health` round trip measured, in ms. */
  stop(): Promise<number[]>;
};

/**
 * An operator calling `health` back to back (with `gapMs` between calls) on
 * its own socket, recording each round trip; a call that never comes back
 * counts as the 5 s it was waited for.
 */
export async function probeHealth(
  url: string,
  token: string,
  options: { gapMs?: number; params?: Record<string, string> } = {},
): Promise<LatencyProbe> {
  const op = await openOperatorSocket(url, token, options.params ? { params: options.params } : {});
  const samples: number[] = [];
  let running = true;
  const loop = (async () => {
    for (let id = 1; running; id++) {
      const started = performance.now();
      try {
        await op.call(id, 'health');
      } catch {
        // a lost answer is measured as the time waited
      }
      samples.push(performance.now() - started);
      await new Promise((resolve) => setTimeout(resolve, options.gapMs ?? 10));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      op.ws.close();
      return samples;
    },
  };
}

export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

const ATTACK_ENTRY = join(dirname(fileURLToPath(import.meta.url)), 'attack-child.ts');

/** Runs one attack in a child process for `spec.seconds`; resolves with how its attempts ended. */
export function runAttackProcess(spec: AttackSpec): Promise<Outcomes> {
  const child = spawn(process.execPath, sourceNodeArgs(ATTACK_ENTRY), {
    env: { ...process.env, LOOPGATE_ATTACK_SPEC: JSON.stringify(spec) },
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  let stderr = '';
  child.stderr?.on('data', (d) => {
    stderr += d;
  });
  return new Promise((resolve, reject) => {
    // Its attempts end at most 10 s after the time is up (a socket kept open is given up on).
    const timer = setTimeout(
      () => {
        child.kill('SIGKILL');
        reject(new Error(`the ${spec.kind} attacker did not finish; stderr: ${stderr}`));
      },
      spec.seconds * 1000 + 30_000,
    );
    child.once('message', (raw) => {
      clearTimeout(timer);
      resolve(new Map((raw as { outcomes: [string, number][] }).outcomes));
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`the ${spec.kind} attacker exited (${code ?? signal}); stderr: ${stderr}`));
    });
  });
}

/** Close codes (or `refused <status>` for a refused upgrade) and how often each was seen. */
export type Outcomes = Map<string, number>;

function tally(outcomes: Outcomes, key: string): void {
  outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
}

export function describeOutcomes(outcomes: Outcomes): string {
  return [...outcomes.entries()].map(([k, n]) => `${k}×${n}`).join(', ') || 'none';
}

/**
 * A superjson payload whose `meta` asks for a BigInt made of `bytes`
 * digits: cheap to send, quadratic to build for a gateway that honours it.
 */
export function bigintMetaInput(bytes: number): string {
  return `{"json":"${'9'.repeat(bytes)}","meta":{"values":["bigint"]}}`;
}

/**
 * Finding 1: `sockets` peers that claim role `pairing` (no credential) and
 * send `framesPerSocket` frames of ~`frameBytes` each whose input asks for
 * a BigInt, reconnecting whenever the gateway closes them, until `signal`.
 */
export async function pairingBigintFlood(options: {
  url: string;
  sockets: number;
  frameBytes: number;
  framesPerSocket: number;
  signal: AbortSignal;
}): Promise<Outcomes> {
  // Built once, and sent with an all-zero mask (which ws then skips), so the
  // attacker spends no CPU per frame: the measured cost is the gateway's.
  const frame = Buffer.from(
    `{"id":1,"method":"query","params":{"path":"health","input":${bigintMetaInput(options.frameBytes)}}}`,
  );
  const outcomes: Outcomes = new Map();
  const lane = async () => {
    while (!options.signal.aborted) {
      tally(outcomes, await oneFloodSocket(options.url, frame, options.framesPerSocket));
    }
  };
  await Promise.all(Array.from({ length: options.sockets }, lane));
  return outcomes;
}

function oneFloodSocket(url: string, frame: Buffer, frames: number): Promise<string> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`${url}?connectionParams=1`, {
      generateMask: (mask) => mask.fill(0),
    });
    const done = (what: string) => {
      clearTimeout(timer);
      resolve(what);
    };
    // A socket the gateway keeps open after all its frames is an outcome too.
    const timer = setTimeout(() => {
      ws.terminate();
      done('still open after 10 s');
    }, 10_000);
    ws.on('error', () => {
      // the close (or the refused upgrade) is what is counted
    });
    ws.once('unexpected-response', (_req, res) => {
      done(`refused ${res.statusCode}`);
      ws.terminate();
    });
    proveNodeOnOpen(ws, NodeKey.generate(), () => {
      for (let i = 0; i < frames; i++) ws.send(frame, { binary: false });
    });
    ws.once('close', (code) => done(`closed ${code}`));
  });
}

/**
 * A superjson `node.result` of ~1.7 KB whose `meta.referentialEqualities`
 * make `levels` small arrays into a DAG, each level referencing the one
 * below twice: 2^levels leaves for anyone who expands it.
 */
export function dagResultInput(invocationId: string, levels: number): string {
  let payload: unknown = [1, 2, 3];
  for (let i = 0; i < levels; i++) payload = [payload, 0];
  const equalities: Record<string, string[]> = {};
  for (let depth = 0; depth < levels; depth++) {
    const at = ['payload', ...Array<string>(depth).fill('0')].join('.');
    equalities[`${at}.0`] = [`${at}.1`];
  }
  return JSON.stringify({
    json: { invocationId, ok: true, payload },
    meta: { referentialEqualities: equalities },
  });
}

export type HostileNode = {
  /** connectionParams for another socket of this paired node (its key, over that socket's challenge). */
  params: (challenge: string) => Record<string, string>;
  /** Answers every invocation with `answer(invocationId)` (a raw superjson input) until closed. */
  answerWith(answer: (invocationId: string) => string): void;
  /** Refusals the gateway sent back for our results, by gateway code. */
  refusals: Outcomes;
  close(): void;
};

/**
 * A node that pairs for real (an operator approves it over `op`), then
 * serves `system.info` from a raw socket so its answers can be any bytes.
 */
export async function pairHostileNode(
  url: string,
  token: string,
  name: string,
): Promise<HostileNode> {
  const key = NodeKey.generate();
  const { asker, requestId } = await askToPair(url, token, name, { key });
  const op = await openOperatorSocket(url, token);
  await op.call(1, 'nodes.pair.approve', { requestId }, 'mutation');
  const approved = await updateOf(asker, 'approved');
  asker.ws.close();
  op.ws.close();

  const params = nodeParams(key, approved.nodeId as string);
  const node = await openOperatorSocket(url, token, { params });
  const refusals: Outcomes = new Map();
  let answer: ((invocationId: string) => string) | undefined;
  let nextId = 100;
  node.ws.on('message', (data) => {
    const frame = JSON.parse(data.toString()) as {
      id: number | string;
      result?: { data?: { json?: { data?: { kind?: string; invocationId?: string } } } };
      error?: { json?: { data?: { gatewayCode?: string } } };
    };
    if (frame.error) tally(refusals, frame.error.json?.data?.gatewayCode ?? 'unknown');
    const message = frame.result?.data?.json?.data;
    if (message?.kind === 'invoke' && message.invocationId && answer) {
      node.ws.send(
        `{"id":${nextId++},"method":"mutation","params":{"path":"node.result","input":${answer(message.invocationId)}}}`,
      );
    }
  });
  node.ws.send(
    JSON.stringify({
      id: 2,
      method: 'subscription',
      params: { path: 'node.invocations', input: { json: { commands: ['system.info'] } } },
    }),
  );
  return {
    params,
    answerWith(fn) {
      answer = fn;
    },
    refusals,
    close: () => node.ws.close(),
  };
}

/**
 * A node asking to pair as `name` under `key` (a fresh one by default), from
 * `localAddress` if given: resolves once the gateway answered `pending`,
 * with the socket still waiting for the decision.
 */
export async function askToPair(
  url: string,
  token: string,
  name: string,
  options: { key?: NodeKey; localAddress?: string } = {},
): Promise<{ asker: OperatorSocket; requestId: string }> {
  const asker = await openOperatorSocket(url, token, {
    params: nodeParams(options.key ?? NodeKey.generate()),
    ...(options.localAddress ? { localAddress: options.localAddress } : {}),
  });
  const request = { name, platform: 'linux', commands: ['system.info'] };
  asker.ws.send(
    JSON.stringify({
      id: 1,
      method: 'subscription',
      params: { path: 'node.pair.request', input: { json: request } },
    }),
  );
  try {
    const pending = await updateOf(asker, 'pending');
    return { asker, requestId: pending.requestId };
  } catch (error) {
    asker.ws.terminate();
    throw error;
  }
}

async function updateOf(
  socket: OperatorSocket,
  status: string,
): Promise<Record<string, unknown> & { requestId: string }> {
  for (;;) {
    const frame = await socket.next(10_000);
    const data = resultData<{ data?: Record<string, unknown> } & Record<string, unknown>>(frame);
    const update = (data?.data ?? data) as
      | (Record<string, unknown> & { requestId: string })
      | undefined;
    if (update?.status === status) return update;
    if (frame.error) throw new Error(`pairing failed: ${frame.error.json.message}`);
  }
}

/**
 * Finding 3: `sockets` sockets that claim role `pairing` from `addresses`
 * (round robin) and then sit idle. Resolves once each is open or refused;
 * `closed` counts how each one ended.
 */
export async function holdPairingSockets(
  url: string,
  sockets: number,
  addresses: readonly string[],
): Promise<{ open: WebSocket[]; outcomes: Outcomes; ended: Promise<void> }> {
  const outcomes: Outcomes = new Map();
  const open: WebSocket[] = [];
  const ends: Promise<void>[] = [];
  const key = NodeKey.generate();
  await Promise.all(
    Array.from(
      { length: sockets },
      (_, i) =>
        new Promise<void>((opened) => {
          const ws = new WebSocket(`${url}?connectionParams=1`, {
            localAddress: addresses[i % addresses.length]!,
          });
          ws.on('error', () => {
            // counted at close
          });
          ends.push(
            new Promise<void>((ended) => {
              ws.once('unexpected-response', (_req, res) => {
                tally(outcomes, `refused ${res.statusCode}`);
                ws.terminate();
                opened();
                ended();
              });
              ws.once('close', (code) => {
                tally(outcomes, `closed ${code}`);
                opened();
                ended();
              });
            }),
          );
          proveNodeOnOpen(ws, key, () => {
            open.push(ws);
            opened();
          });
        }),
    ),
  );
  return { open, outcomes, ended: Promise.all(ends).then(() => undefined) };
}

/**
 * Finding 3 kept up: `sockets` pairing peers from `addresses` that sit idle,
 * each replaced as soon as the gateway closes or refuses it, until `signal`.
 */
export async function pairingCrowd(options: {
  url: string;
  sockets: number;
  addresses: readonly string[];
  signal: AbortSignal;
}): Promise<Outcomes> {
  const outcomes: Outcomes = new Map();
  const lane = async (i: number) => {
    const localAddress = options.addresses[i % options.addresses.length]!;
    while (!options.signal.aborted) {
      tally(outcomes, await oneIdlePairingSocket(options.url, localAddress, options.signal));
      // Holding sockets, not flooding dials (a dial flood is the admission caps' case): a refused or
      // closed socket is replaced after half a second.
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  };
  await Promise.all(Array.from({ length: options.sockets }, (_, i) => lane(i)));
  return outcomes;
}

function oneIdlePairingSocket(
  url: string,
  localAddress: string,
  signal: AbortSignal,
): Promise<string> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`${url}?connectionParams=1`, { localAddress });
    const onStop = () => {
      ws.terminate();
      resolve('still open at the end');
    };
    signal.addEventListener('abort', onStop, { once: true });
    const done = (what: string) => {
      signal.removeEventListener('abort', onStop);
      resolve(what);
    };
    ws.on('error', () => {
      // counted at close
    });
    ws.once('unexpected-response', (_req, res) => {
      ws.terminate();
      done(`refused ${res.statusCode}`);
    });
    proveNodeOnOpen(ws, NodeKey.generate(), () => {});
    ws.once('close', (code) => done(`closed ${code}`));
  });
}

/**
 * Finding 5: wrong passwords from loopback, one connection each, as fast as
 * the gateway answers, until `signal`. Counts how each attempt ended
 * (UNAUTHORIZED close 4001, RATE_LIMITED close 4029, an upgrade refused 429).
 */
export async function guessPasswords(options: {
  url: string;
  signal: AbortSignal;
  lanes?: number;
}): Promise<Outcomes> {
  const outcomes: Outcomes = new Map();
  let guess = 0;
  const lane = async () => {
    while (!options.signal.aborted) {
      const password = `guess-${guess++}-not-the-password`;
      tally(outcomes, await oneGuess(options.url, password));
    }
  };
  await Promise.all(Array.from({ length: options.lanes ?? 4 }, lane));
  return outcomes;
}

function oneGuess(url: string, password: string): Promise<string> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`${url}?connectionParams=1`);
    ws.on('error', () => {
      // counted at close
    });
    ws.once('unexpected-response', (_req, res) => {
      ws.terminate();
      resolve(`refused ${res.statusCode}`);
    });
    ws.once('open', () =>
      ws.send(JSON.stringify({ method: 'connectionParams', data: { password } })),
    );
    ws.once('close', (code) => resolve(`closed ${code}`));
  });
}

/** Asks to pair under a key made up on the spot and leaves at once; false when refused. */
export async function abandonedPairingRequest(
  url: string,
  localAddress: string,
  name: string,
): Promise<boolean> {
  try {
    const { asker } = await askToPair(url, '', name, { localAddress });
    asker.ws.close();
    await asker.closed;
    return true;
  } catch {
    // LIMIT_EXCEEDED for this address while its earlier requests are in their grace
    return false;
  }
}
