export { IdempotencyCache } from './idempotency-cache.js';
export { IdempotencyWindow } from './idempotency-window.js';
