export {
  type AuthAttempt,
  ConnectionAuthenticator,
  type ConnectionAuthOptions,
  type PeerIdentity,
} from './connection-auth.js';
export {
  digestSecret,
  type GatewayCredential,
  newSecretToken,
  resolveCredential,
  rotateGeneratedToken,
  secretMatches,
  TOKEN_FILE_NAME,
} from './credentials.js';
export { type OperatorAccess, resolveOperatorAccess } from './operator-access.js';
export {
  closeAtExpiry,
  OPERATOR_TOKENS_FILE_NAME,
  OperatorTokens,
  type TokenCheck,
} from './operator-tokens.js';
export { type AttemptSource, FailedAttemptLimiter } from './rate-limiter.js';
export { TailscaleWhois, type WhoisVerdict } from './tailscale-whois.js';
export { rotateGatewayToken, type TokenRotationDeps } from './token-rotation.js';
