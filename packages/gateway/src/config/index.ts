export { ConfigError, type ConfigFlags, type LoadedConfig, loadConfig } from './load-config.js';
export { defaultConfigPath, defaultStateDir, type Env } from './paths.js';
