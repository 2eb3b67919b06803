export { fastTransformer, isPlainJson } from './fast-transformer.js';
export { type BoundAddress, Listener, type ListenerOptions, type UpgradeDecision } from './listener.js';
export { RpcConnection, type RpcConnectionLimits, type RpcConnectionOptions } from './rpc-connection.js';
