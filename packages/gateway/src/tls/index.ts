export {
  type EnsureCertificateOptions,
  ensureGatewayCertificate,
  fingerprintOf,
  type GatewayCertificate,
  gatewayCertificatePaths,
  readGatewayFingerprint,
  subjectAltNamesFor,
} from './certificate.js';
