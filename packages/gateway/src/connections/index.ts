export { type AcceptorOptions, ConnectionAcceptor } from './connection-acceptor.js';
export { ConnectionRegistry } from './connection-registry.js';
