import { GatewayError } from '@loopgate/protocol';
import type { OperationResultEnvelope, TRPCClientError, TRPCLink } from '@trpc/client';
import type { AnyRouter } from '@trpc/server';
import { type Observer, observable } from '@trpc/server/observable';
import { trpcErrorFrom, trpcErrorFromShape } from './errors.js';
import type { Call, CallHandlers, CallType, GatewayTransport } from './transport.js';

type LinkObserver = Observer<
  OperationResultEnvelope<unknown, TRPCClientError<AnyRouter>>,
  TRPCClientError<AnyRouter>
>;

/** Turns the transport's reports for one call into tRPC's result envelopes. */
class LinkCall implements CallHandlers {
  constructor(
    private readonly observer: LinkObserver,
    private readonly type: CallType,
  ) {}

  data(data: unknown, eventId: string | number | undefined): void {
    this.observer.next({
      result:
        eventId === undefined
          ? { type: 'data', data }
          : { type: 'data', id: String(eventId), data },
    });
    if (this.type !== 'subscription') this.observer.complete();
  }

  started(): void {
    this.observer.next({ result: { type: 'started' } });
  }

  stopped(): void {
    this.observer.next({ result: { type: 'stopped' } });
    this.observer.complete();
  }

  error(error: GatewayError, shape: unknown): void {
    this.observer.error(
      shape === undefined ? trpcErrorFrom(error) : trpcErrorFromShape(shape, error),
    );
  }
}

/**
 * The terminating tRPC link for a Loopgate gateway: stock tRPC 11 WebSocket
 * wire format, our transport underneath (microtask batching, jittered
 * reconnects, final credential refusals). Usable with `createTRPCClient`
 * directly; `createGatewayClient` wraps it.
 */
export function loopgateLink<TRouter extends AnyRouter>(
  transport: GatewayTransport,
): TRPCLink<TRouter> {
  return () =>
    ({ op }) =>
      observable((observer) => {
        const call: Call = transport.request(
          op.type,
          op.path,
          op.input,
          new LinkCall(observer as LinkObserver, op.type),
        );
        const signal = op.signal;
        if (!signal) return () => transport.cancel(call);
        const onAbort = () =>
          transport.cancel(call, new GatewayError('CANCELLED', 'the call was aborted'));
        if (signal.aborted) onAbort();
        else signal.addEventListener('abort', onAbort, { once: true });
        return () => {
          signal.removeEventListener('abort', onAbort);
          transport.cancel(call);
        };
      });
}
