export * from './command-params.js';
export * from './connection-settings.js';
export * from './event-lines.js';
export * from './line-filter.js';
export * from './reducer.js';
export * from './secret-setting.js';
export * from './store.js';
export * from './types.js';
