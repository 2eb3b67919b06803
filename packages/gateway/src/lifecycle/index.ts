export {
  Lifecycle,
  type LifecycleOptions,
  type LifecyclePhase,
  type MarkOpened,
} from './lifecycle.js';
