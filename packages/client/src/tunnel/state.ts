import { type BackoffOptions, nextReconnectDelay } from '../backoff.js';
import { type TunnelFailure, tunnelFailure } from './failure.js';

/**
 * The tunnel supervisor's state machine. Pure: the I/O layer feeds it events
 * (ssh started, forward answered, ssh exited, close requested) and does what
 * the new state says (spawn after `delayMs`, report, stop).
 *
 *   starting(n) ──ready──▶ up ──exit(transient)──▶ retrying(1) ──timer──▶ starting(1) …
 *       │                   │
 *       └──exit──▶ retrying(n+1) / failed     exit(fatal) or attempts exhausted ──▶ failed
 *   any ──close──▶ closed
 */

export type TunnelState =
  | { status: 'starting'; attempt: number }
  | { status: 'up'; localPort: number; reused: boolean }
  | { status: 'retrying'; attempt: number; reason: TunnelFailure; delayMs: number }
  | { status: 'failed'; reason: TunnelFailure }
  | { status: 'closed' };

export type TunnelEvent =
  | { type: 'ready'; localPort: number; reused: boolean }
  | { type: 'ended'; failure: TunnelFailure }
  | { type: 'retry' }
  | { type: 'close' };

export type RetryPolicy = {
  /** Consecutive retries without reaching `up` before giving up. */
  maxRetries: number;
  backoff: BackoffOptions;
  random: () => number;
};

export const INITIAL_TUNNEL_STATE: TunnelState = { status: 'starting', attempt: 0 };

export function nextTunnelState(
  state: TunnelState,
  event: TunnelEvent,
  policy: RetryPolicy,
): TunnelState {
  if (state.status === 'closed' || state.status === 'failed') return state;
  if (event.type === 'close') return { status: 'closed' };
  switch (state.status) {
    case 'starting':
      if (event.type === 'ready')
        return { status: 'up', localPort: event.localPort, reused: event.reused };
      if (event.type === 'ended') return afterFailure(state.attempt + 1, event.failure, policy);
      return state;
    case 'up':
      // A tunnel that was up starts a fresh series of attempts: its earlier failures are history.
      if (event.type === 'ended') return afterFailure(1, event.failure, policy);
      return state;
    case 'retrying':
      if (event.type === 'retry') return { status: 'starting', attempt: state.attempt };
      return state;
  }
}

function afterFailure(attempt: number, failure: TunnelFailure, policy: RetryPolicy): TunnelState {
  if (failure.fatal) return { status: 'failed', reason: failure };
  if (attempt > policy.maxRetries) {
    return {
      status: 'failed',
      reason: tunnelFailure(
        failure.kind,
        `${failure.message} — gave up after ${policy.maxRetries} retries`,
      ),
    };
  }
  return {
    status: 'retrying',
    attempt,
    reason: failure,
    delayMs: nextReconnectDelay(attempt - 1, policy.random, policy.backoff),
  };
}

/** One line for an operator: `up on 127.0.0.1:18789`, `retrying (3): … in 1.2 s`. */
export function describeTunnelState(state: TunnelState): string {
  switch (state.status) {
    case 'starting':
      return state.attempt === 0 ? 'starting' : `starting (attempt ${state.attempt + 1})`;
    case 'up':
      return `up on 127.0.0.1:${state.localPort}${state.reused ? ' (reusing an existing loopgate tunnel)' : ''}`;
    case 'retrying':
      return `retrying (${state.attempt}) in ${(state.delayMs / 1000).toFixed(1)} s: ${state.reason.message}`;
    case 'failed':
      return `failed: ${state.reason.message}`;
    case 'closed':
      return 'closed';
  }
}
