export { type BackoffOptions, DEFAULT_BACKOFF, nextReconnectDelay } from './backoff.js';
export {
  type CallOptions,
  createGatewayClient,
  type GatewayClient,
  type GatewayClientOptions,
  type GatewayConnection,
  type GatewayProcedures,
  type SubscriptionHandlers,
  type Unsubscribe,
} from './client.js';
export {
  type ConnectionState,
  type ConnectionStateListener,
  isFinalState,
} from './connection-state.js';
export * from './contexts/index.js';
export { displayUrl, toGatewayError } from './errors.js';
export { loopgateLink } from './link.js';
export * from './probe/index.js';
export { formatRetryDelay, formatRetryLine, type RetryLineInput } from './retry-line.js';
export {
  type GatewayTarget,
  type GatewayTargetFlags,
  resolveGatewayTarget,
  type TargetSource,
  TOKEN_FILE_NAME,
} from './target.js';
export * from './tls/index.js';
export * from './tls/index.js';
export {
  type GatewaySocket,
  GatewayTransport,
  type SocketFactory,
  type SocketOptions,
} from './transport.js';
export * from './tunnel/index.js';
