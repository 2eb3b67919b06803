export {
  digestSecret,
  type GatewayCredential,
  newSecretToken,
  resolveCredential,
  rotateGeneratedToken,
  secretMatches,
  TOKEN_FILE_NAME,
} from './credentials.js';
export { type AttemptSource, FailedAttemptLimiter } from './rate-limiter.js';
