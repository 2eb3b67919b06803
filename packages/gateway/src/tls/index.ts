export {
  type EnsureCertificateOptions,
  ensureGatewayCertificate,
  fingerprintOf,
  type GatewayCertificate,
  gatewayCertificatePaths,
  subjectAltNamesFor,
} from './certificate.js';
