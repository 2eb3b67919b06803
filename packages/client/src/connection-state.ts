import type { GatewayError } from '@loopgate/protocol';

/**
 * Where the client's connection to the gateway stands, as an operator would
 * put it. `unauthorized`, `pin-mismatch` and `closed` are final: the client
 * does not reconnect from them.
 */
export type ConnectionState =
  | { readonly state: 'connecting' }
  | { readonly state: 'open'; readonly since: number }
  | {
      readonly state: 'reconnecting';
      readonly attempt: number;
      readonly error?: GatewayError;
      /** When the next attempt starts (the backoff chosen for it), so a client can say so. */
      readonly retryInMs?: number;
    }
  | { readonly state: 'unauthorized'; readonly error: GatewayError }
  | { readonly state: 'pin-mismatch'; readonly error: GatewayError }
  | { readonly state: 'closed'; readonly error?: GatewayError };

export type ConnectionStateListener = (state: ConnectionState) => void;

export function isFinalState(state: ConnectionState): boolean {
  return (
    state.state === 'unauthorized' || state.state === 'pin-mismatch' || state.state === 'closed'
  );
}

/**
 * The current state plus its listeners. States are immutable values replaced
 * on every change, so `get()` works as React's `useSyncExternalStore`
 * snapshot; listeners are called on changes only, never on subscribe.
 */
export class ConnectionStateStore {
  #state: ConnectionState;
  readonly #listeners = new Set<ConnectionStateListener>();

  constructor(initial: ConnectionState) {
    this.#state = initial;
  }

  get(): ConnectionState {
    return this.#state;
  }

  set(next: ConnectionState): void {
    this.#state = next;
    for (const listener of this.#listeners) {
      try {
        listener(next);
      } catch (error) {
        // A throwing listener must not stop the client's own bookkeeping or
        // the other listeners; surface it the way an unhandled event would.
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }

  subscribe(listener: ConnectionStateListener): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }
}
