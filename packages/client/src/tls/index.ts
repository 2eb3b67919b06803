export { savePinnedFingerprint } from './config-pin.js';
export { formatFingerprint, parseFingerprint, parseFingerprints } from './fingerprint.js';
export {
  createPinnedConnector,
  type PinnedConnector,
  pinCheck,
  pinnedWebSocketOptions,
} from './pinned-connection.js';
export { type CertificateProbe, probeCertificate } from './probe.js';
export {
  assertTransportAllowed,
  type GatewayTransportOptions,
  isLoopbackHost,
  type PlaintextOptions,
  parseGatewayUrl,
  webSocketOptionsFor,
} from './transport-policy.js';
