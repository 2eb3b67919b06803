import { type AgentRunState, GatewayError } from '@loopgate/protocol';

export type RunTransition = 'start' | 'complete' | 'fail' | 'cancel';

const transitions: Record<AgentRunState, Partial<Record<RunTransition, AgentRunState>>> = {
  queued: { start: 'running', cancel: 'cancelled' },
  running: { complete: 'completed', fail: 'failed', cancel: 'cancelled' },
  completed: {},
  failed: {},
  cancelled: {},
};

/** The run lifecycle: queued → running → completed | failed | cancelled (a queued run may be cancelled too). */
export function nextRunState(
  from: AgentRunState,
  transition: RunTransition,
): AgentRunState | undefined {
  return transitions[from][transition];
}

/**
 * One run at a time per session, the rest wait in arrival order. Pure
 * bookkeeping: the runtime asks it what to start and when.
 */
export class SessionRunQueue {
  readonly #active = new Map<string, string>();
  readonly #waiting = new Map<string, string[]>();

  constructor(readonly maxWaitingPerSession: number) {}

  /**
   * Adds a run: `start` if the session was idle, otherwise its place in the
   * line (1 = next). Throws LIMIT_EXCEEDED when the line is full.
   */
  enqueue(sessionId: string, runId: string): { start: true } | { start: false; position: number } {
    if (!this.#active.has(sessionId)) {
      this.#active.set(sessionId, runId);
      return { start: true };
    }
    const waiting = this.#waiting.get(sessionId) ?? [];
    if (waiting.length >= this.maxWaitingPerSession) {
      throw new GatewayError(
        'LIMIT_EXCEEDED',
        `session ${sessionId} already has ${waiting.length} runs waiting (agent.maxQueuedPerSession); wait for them or cancel one`,
      );
    }
    waiting.push(runId);
    this.#waiting.set(sessionId, waiting);
    return { start: false, position: waiting.length };
  }

  /** The active run ended: returns the run that becomes active next, if any. */
  finish(sessionId: string, runId: string): string | undefined {
    if (this.#active.get(sessionId) !== runId) return undefined;
    const waiting = this.#waiting.get(sessionId);
    const next = waiting?.shift();
    if (waiting && waiting.length === 0) this.#waiting.delete(sessionId);
    if (next === undefined) this.#active.delete(sessionId);
    else this.#active.set(sessionId, next);
    return next;
  }

  /** Takes a waiting run out of line (cancelled before it started); false if it is not waiting. */
  withdraw(sessionId: string, runId: string): boolean {
    const waiting = this.#waiting.get(sessionId);
    const index = waiting?.indexOf(runId) ?? -1;
    if (!waiting || index === -1) return false;
    waiting.splice(index, 1);
    if (waiting.length === 0) this.#waiting.delete(sessionId);
    return true;
  }

  activeRun(sessionId: string): string | undefined {
    return this.#active.get(sessionId);
  }

  /** Runs waiting ahead of `runId` plus one, or undefined when it is not waiting. */
  positionOf(sessionId: string, runId: string): number | undefined {
    const index = this.#waiting.get(sessionId)?.indexOf(runId) ?? -1;
    return index === -1 ? undefined : index + 1;
  }

  waitingCount(sessionId: string): number {
    return this.#waiting.get(sessionId)?.length ?? 0;
  }

  /** Every run behind the active one, in order. */
  waiting(sessionId: string): readonly string[] {
    return this.#waiting.get(sessionId) ?? [];
  }

  get activeCount(): number {
    return this.#active.size;
  }
}
