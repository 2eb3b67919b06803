export * from './bindings.js';
export * from './command-line.js';
export * from './effects.js';
export * from './key-press.js';
