import type { AppRouter } from '@loopgate/gateway';
import {
  type ConnectionParams,
  type ConnectionRole,
  fastTransformer,
  GatewayError,
} from '@loopgate/protocol';
import type {
  AnyTRPCProcedure,
  AnyTRPCRouter,
  inferProcedureInput,
  inferTRPCClientTypes,
  inferTransformedProcedureOutput,
  TRPCCombinedDataTransformer,
  TRPCDataTransformer,
  TRPCRouterRecord,
} from '@trpc/server';
import type { inferAsyncIterableYield } from '@trpc/server/unstable-core-do-not-import';
import WebSocket from 'ws';
import { type BackoffOptions, DEFAULT_BACKOFF } from './backoff.js';
import {
  type CallOptions,
  requestPromise,
  type SubscriptionHandlers,
  subscribe,
  type Unsubscribe,
} from './calls.js';
import type { ConnectionState, ConnectionStateListener } from './connection-state.js';
import { resolveGatewayTarget } from './target.js';
import { webSocketOptionsFor } from './tls/index.js';
import { DEFAULT_TRANSPORT_OPTIONS, GatewayTransport, type SocketFactory } from './transport.js';

export type { CallOptions, SubscriptionHandlers, Unsubscribe };

export type GatewayClientOptions = {
  /** Default: `LOOPGATE_GATEWAY_URL`, the config file, else `ws://127.0.0.1:18789`. */
  url?: string;
  /** Default (operators): `LOOPGATE_GATEWAY_TOKEN`, the config file, else the local gateway's token file. */
  token?: string;
  password?: string;
  role?: ConnectionRole;
  /** A paired node's own credential (role `node`). */
  /**
   * For nodes: the connectionParams that prove the node's key, computed per
   * socket from the challenge in the gateway's upgrade response (so no
   * reusable secret ever crosses the wire).
   */
  proveChallenge?: (
    challenge: string,
  ) => Pick<ConnectionParams, 'nodeKey' | 'nodeSignature' | 'nodeId'>;
  clientName?: string;
  clientVersion?: string;
  /**
   * `false` for one-shot commands: a failed connect or a drop fails every
   * call and ends the client instead of reconnecting in the background.
   */
  retry?: boolean;
  /** Where to look for the token file and config (see `resolveGatewayTarget`). */
  stateDir?: string;
  configPath?: string;
  /** Environment for the defaults above; `process.env` when omitted. */
  env?: Record<string, string | undefined>;
  /** A `ws`-compatible WebSocket class. */
  WebSocketImpl?: typeof WebSocket;
  /** Opens each socket (TLS pinning, tunnels); wins over `WebSocketImpl`. */
  createSocket?: SocketFactory;
  /** Pin(s) of the gateway's TLS certificate (`wss://` only); default `gateway.remote.tlsFingerprint`. */
  tlsFingerprint?: string | readonly string[];
  /** Accept plain `ws://` to a non-loopback host (credentials cross the network unencrypted). */
  insecurePlaintext?: boolean;
  /** Default: superjson's wire format, with a fast path for plain JSON. */
  transformer?: TRPCCombinedDataTransformer | TRPCDataTransformer;
  /** Most requests per frame (default 64, the gateway's default `maxBatchSize`). */
  maxBatchSize?: number;
  /** `PING` keepalive/latency interval in ms (default 15 000; 0 disables). */
  keepAliveMs?: number;
  handshakeTimeoutMs?: number;
  /** Reconnect backoff: full jitter, `baseMs` doubling up to `capMs` (default 250 ms … 10 s). */
  reconnect?: Partial<BackoffOptions>;
  /** After a drop, how long calls not yet sent wait for the connection to return (default 5 s). */
  reconnectGraceMs?: number;
};

type DecorateProcedure<TType, TInput, TOutput> = TType extends 'query'
  ? { query(input: TInput, options?: CallOptions): Promise<TOutput> }
  : TType extends 'mutation'
    ? { mutate(input: TInput, options?: CallOptions): Promise<TOutput> }
    : TType extends 'subscription'
      ? {
          subscribe(
            input: TInput,
            handlers: SubscriptionHandlers<inferAsyncIterableYield<TOutput>>,
          ): Unsubscribe;
        }
      : never;

/** The router's procedures as client methods, typed from the router alone (`import type`). */
export type GatewayProcedures<
  TRouter extends AnyTRPCRouter,
  TRecord extends TRPCRouterRecord = TRouter['_def']['record'],
> = {
  [TKey in keyof TRecord]: TRecord[TKey] extends infer $Value
    ? $Value extends AnyTRPCProcedure
      ? DecorateProcedure<
          $Value['_def']['type'],
          inferProcedureInput<$Value>,
          inferTransformedProcedureOutput<inferTRPCClientTypes<TRouter>, $Value>
        >
      : $Value extends TRPCRouterRecord
        ? GatewayProcedures<TRouter, $Value>
        : never
    : never;
};

export interface GatewayConnection {
  /** The target as it may be shown (no credentials). */
  readonly url: string;
  get(): ConnectionState;
  /** Called on every change (not on subscribe); returns the unsubscribe function. */
  subscribe(listener: ConnectionStateListener): () => void;
  /** Last `PING`/`PONG` round trip in ms, once one was measured. */
  latencyMs(): number | undefined;
}

export type GatewayClient<TRouter extends AnyTRPCRouter = AppRouter> = Omit<
  GatewayProcedures<TRouter>,
  'connection' | 'close'
> & {
  readonly connection: GatewayConnection;
  /** Ends subscriptions, lets calls in flight finish (briefly), closes the socket; no reconnect follows. */
  close(): Promise<void>;
};

function connectionParamsOf(
  opts: GatewayClientOptions,
  token: string | undefined,
  password: string | undefined,
): Record<string, string> {
  const params: ConnectionParams = {
    ...(token ? { token } : {}),
    ...(password ? { password } : {}),
    ...(opts.role ? { role: opts.role } : {}),
    ...(opts.clientName ? { clientName: opts.clientName } : {}),
    ...(opts.clientVersion ? { clientVersion: opts.clientVersion } : {}),
  };
  return params as Record<string, string>;
}

/** Finds the URL and (for operators) the credentials, as `resolveGatewayTarget` does. */
function resolveTarget(opts: GatewayClientOptions): {
  url: string;
  token?: string;
  password?: string;
  tlsFingerprint?: string | readonly string[];
} {
  const operator = opts.role === undefined || opts.role === 'operator';
  const explicitCredential = opts.token !== undefined || opts.password !== undefined;
  // Nodes and pairing requests present their own credentials only, never the
  // operator token lying in the state dir.
  if (opts.url && (explicitCredential || !operator)) {
    return { url: opts.url, token: opts.token, password: opts.password };
  }
  const target = resolveGatewayTarget({
    url: opts.url,
    token: opts.token,
    password: opts.password,
    stateDir: opts.stateDir,
    configPath: opts.configPath,
    env: opts.env,
  });
  // The configured pin belongs to the configured URL, not to one given explicitly.
  const tlsFingerprint = target.source.url === 'config' ? target.tlsFingerprint : undefined;
  if (!operator)
    return { url: target.url, token: opts.token, password: opts.password, tlsFingerprint };
  return { url: target.url, token: target.token, password: target.password, tlsFingerprint };
}

/**
 * The typed client for any router; `createGatewayClient` is this for the
 * gateway's `AppRouter`. Throws a `BAD_REQUEST` GatewayError for a bad URL
 * or config; everything later arrives as call errors and connection states.
 */
export function createClientFor<TRouter extends AnyTRPCRouter>(
  opts: GatewayClientOptions = {},
): GatewayClient<TRouter> {
  const target = resolveTarget(opts);
  const url = target.url;
  if (/[?&](token|password|nodeSignature)=/i.test(url)) {
    // URLs end up in shell history, logs and proxies; credentials travel in connectionParams.
    throw new GatewayError(
      'BAD_REQUEST',
      'credentials do not belong in the gateway URL: pass them as token/password options',
    );
  }
  // Refuses plain ws:// beyond loopback and, with a pin, checks the
  // certificate before any byte of the upgrade is sent (see ./tls).
  const pinning = webSocketOptionsFor(url, {
    tlsFingerprint: opts.tlsFingerprint ?? target.tlsFingerprint,
    insecurePlaintext: opts.insecurePlaintext,
  });
  const WebSocketImpl = opts.WebSocketImpl ?? WebSocket;
  const createSocket: SocketFactory =
    opts.createSocket ?? ((u, o) => new WebSocketImpl(u, { ...o, ...pinning }));
  const transformer = opts.transformer ?? fastTransformer;
  const transport = new GatewayTransport({
    ...DEFAULT_TRANSPORT_OPTIONS,
    url,
    connectionParams: connectionParamsOf(opts, target.token, target.password),
    ...(opts.proveChallenge
      ? { challengeParams: opts.proveChallenge as (challenge: string) => Record<string, string> }
      : {}),
    transformer: 'input' in transformer ? transformer : { input: transformer, output: transformer },
    retry: opts.retry !== false,
    createSocket,
    ...(opts.maxBatchSize ? { maxBatchSize: opts.maxBatchSize } : {}),
    ...(opts.keepAliveMs !== undefined ? { keepAliveMs: opts.keepAliveMs } : {}),
    ...(opts.handshakeTimeoutMs ? { handshakeTimeoutMs: opts.handshakeTimeoutMs } : {}),
    ...(opts.reconnectGraceMs !== undefined ? { reconnectGraceMs: opts.reconnectGraceMs } : {}),
    backoff: { ...DEFAULT_BACKOFF, ...opts.reconnect },
  });
  const connection: GatewayConnection = {
    url: transport.url,
    get: () => transport.state,
    subscribe: (listener) => transport.subscribeState(listener),
    latencyMs: () => transport.latencyMs,
  };
  const close = () => transport.close();
  return procedureProxy(transport, { connection, close }) as GatewayClient<TRouter>;
}

/** The typed client of the Loopgate gateway. */
export function createGatewayClient(opts: GatewayClientOptions = {}): GatewayClient {
  return createClientFor<AppRouter>(opts);
}

/**
 * `client.a.b.query(input)` → a `query` of `a.b` on the transport. Path
 * objects and their methods are built once per path and cached, so a hot
 * call allocates nothing for the lookup. (The same calls also work through
 * tRPC's own client with `loopgateLink`; going straight to the transport
 * skips its per-call observable chain, see `requestPromise`.)
 */
function procedureProxy(transport: GatewayTransport, reserved: Record<string, unknown>): unknown {
  const nodes = new Map<string, unknown>();
  const methods = new Map<string, unknown>();

  const method = (path: string, kind: 'query' | 'mutate' | 'subscribe'): unknown => {
    const key = `${path}#${kind}`;
    let fn = methods.get(key);
    if (fn) return fn;
    if (kind === 'query') {
      fn = (input: unknown, options?: CallOptions) =>
        requestPromise(transport, 'query', path, input, options?.signal);
    } else if (kind === 'mutate') {
      fn = (input: unknown, options?: CallOptions) =>
        requestPromise(transport, 'mutation', path, input, options?.signal);
    } else {
      fn = (input: unknown, handlers: SubscriptionHandlers<unknown> = {}) =>
        subscribe(transport, path, input, handlers);
    }
    methods.set(key, fn);
    return fn;
  };

  const node = (path: string): unknown => {
    let proxy = nodes.get(path);
    if (proxy) return proxy;
    proxy = new Proxy(Object.create(null), {
      get(_target, key) {
        // Not thenable, not iterable: `await client.nodes` must not call anything.
        if (typeof key !== 'string' || key === 'then') return undefined;
        if (key === 'query' || key === 'mutate' || key === 'subscribe') return method(path, key);
        return node(`${path}.${key}`);
      },
    });
    nodes.set(path, proxy);
    return proxy;
  };

  return new Proxy(Object.create(null), {
    get(_target, key) {
      if (typeof key !== 'string' || key === 'then') return undefined;
      if (Object.hasOwn(reserved, key)) return reserved[key];
      return node(key);
    },
  });
}
