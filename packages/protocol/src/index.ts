export * from './agent.js';
export * from './atomic-file.js';
export * from './config.js';
export * from './constants.js';
export * from './errors.js';
export * from './events.js';
export * from './nodes.js';
export * from './operator.js';
