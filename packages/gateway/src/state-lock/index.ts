export { assertPrivateStateDir, UnsafeStateDirError } from './private-dir.js';
export {
  acquireStateLock,
  describeLockedStateDir,
  isLockHolderRunning,
  readStateLock,
  STATE_LOCK_FILE,
  type StateLock,
  StateLockedError,
  type StateLockHolder,
  type StateLockStatus,
} from './state-lock.js';
