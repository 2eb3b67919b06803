import { GatewayError } from '@loopgate/protocol';
import type { Call, CallHandlers, GatewayTransport } from './transport.js';

/** Callbacks of a subscription. Errors arrive as `GatewayError`. */
export type SubscriptionHandlers<TData> = {
  onData?: (data: TData) => void;
  onError?: (error: GatewayError) => void;
  /** The gateway started the subscription (once; a resume after a reconnect is silent). */
  onStarted?: () => void;
  /** The gateway ended the subscription, or the client was closed. */
  onStopped?: () => void;
  /** Called last when the subscription ended on its own (stopped or failed), not on unsubscribe. */
  onComplete?: () => void;
  /** Aborting it unsubscribes. */
  signal?: AbortSignal;
};

export type CallOptions = { signal?: AbortSignal };
export type Unsubscribe = { unsubscribe(): void };

const aborted = () => new GatewayError('CANCELLED', 'the call was aborted');

/** Settles one query/mutation promise; one object per call, no closures. */
class PromiseCall implements CallHandlers {
  constructor(
    private readonly resolve: (value: unknown) => void,
    private readonly reject: (error: GatewayError) => void,
  ) {}

  data(data: unknown): void {
    this.resolve(data);
  }

  started(): void {}

  stopped(): void {}

  error(error: GatewayError): void {
    this.reject(error);
  }
}

/**
 * A query or mutation as a promise, straight on the transport. This is the
 * hot path: tRPC's own client wraps every call in an observable chain and an
 * AbortController whose abort builds a DOMException on every completion,
 * which cost more CPU per call than the rest of the client together.
 */
export function requestPromise(
  transport: GatewayTransport,
  type: 'query' | 'mutation',
  path: string,
  input: unknown,
  signal: AbortSignal | undefined,
): Promise<unknown> {
  if (signal === undefined) {
    return new Promise((resolve, reject) => {
      transport.request(type, path, input, new PromiseCall(resolve, reject));
    });
  }
  if (signal.aborted) return Promise.reject(aborted());
  return new Promise((resolve, reject) => {
    const onAbort = () => transport.cancel(call, aborted());
    const call: Call = transport.request(
      type,
      path,
      input,
      new PromiseCall(
        (value) => {
          signal.removeEventListener('abort', onAbort);
          resolve(value);
        },
        (error) => {
          signal.removeEventListener('abort', onAbort);
          reject(error);
        },
      ),
    );
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

class SubscriptionCall implements CallHandlers {
  onEnd: (() => void) | undefined;

  constructor(private readonly handlers: SubscriptionHandlers<unknown>) {}

  data(data: unknown): void {
    this.handlers.onData?.(data);
  }

  started(): void {
    this.handlers.onStarted?.();
  }

  stopped(): void {
    this.onEnd?.();
    this.handlers.onStopped?.();
    this.handlers.onComplete?.();
  }

  error(error: GatewayError): void {
    this.onEnd?.();
    this.handlers.onError?.(error);
    this.handlers.onComplete?.();
  }
}

/**
 * A subscription straight on the transport. Tracked events arrive as
 * `{ id, data }`, like tRPC's own client delivers them.
 */
export function subscribe(
  transport: GatewayTransport,
  path: string,
  input: unknown,
  handlers: SubscriptionHandlers<unknown>,
): Unsubscribe {
  const sink = new SubscriptionCall(handlers);
  const call = transport.request('subscription', path, input, sink);
  const unsubscribe = () => transport.cancel(call);
  const signal = handlers.signal;
  if (signal) {
    if (signal.aborted) unsubscribe();
    else {
      signal.addEventListener('abort', unsubscribe, { once: true });
      sink.onEnd = () => signal.removeEventListener('abort', unsubscribe);
    }
  }
  return {
    unsubscribe() {
      sink.onEnd?.();
      unsubscribe();
    },
  };
}
