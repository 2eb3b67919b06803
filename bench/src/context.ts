import type { BenchChild } from './child.js';
import type { LoopgateTarget } from './drivers/loopgate.js';

/** What every shape gets: the servers under test (already running) and the round plan. */
export type BenchContext = {
  rounds: number;
  /** Length of one timed round of a request/response shape. */
  roundMs: number;
  gateway: BenchChild;
  /** URL and operator token of the bench gateway. */
  target: LoopgateTarget;
  rawServer: BenchChild;
  rawUrl: string;
  stockServer: BenchChild;
  stockUrl: string;
  /** A fresh gateway host with the bench config, `limits` overriding its limits (for shapes that need a clean process). */
  spawnGateway(limits?: Record<string, number>): BenchChild;
  /** A fresh raw-ws baseline server; with `relayTo`, a raw relay to that server instead. */
  spawnRawServer(relayTo?: string): BenchChild;
  log(line: string): void;
};
