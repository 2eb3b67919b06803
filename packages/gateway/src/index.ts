export {
  type Access,
  accessTable,
  allowedPrincipals,
  deniedProcedures,
  isAllowed,
  type ProcedurePath,
  refusal,
} from './authorization/index.js';
export {
  ConfigError,
  type ConfigFlags,
  defaultConfigPath,
  defaultStateDir,
  type LoadedConfig,
  loadConfig,
} from './config/index.js';
export { type CreateGatewayOptions, createGateway, type Gateway } from './gateway.js';
export { type AppRouter, servedProcedures } from './router/app-router.js';
export {
  describeLockedStateDir,
  isLockHolderRunning,
  readStateLock,
  STATE_LOCK_FILE,
  StateLockedError,
  type StateLockHolder,
  type StateLockStatus,
  UnsafeStateDirError,
} from './state-lock/index.js';
export { fingerprintOf, readGatewayFingerprint } from './tls/index.js';
