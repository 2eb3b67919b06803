import { readFile } from 'node:fs/promises';
import {
  activeProfile,
  formatConfigIssues,
  LoopgateConfig,
  type LoopgateConfigInput,
  profilePort,
} from '@loopgate/protocol';
import JSON5 from 'json5';
import { defaultConfigPath, type Env } from './paths.js';

/** A config that can't be used; `lines` name each key path and reason. Exit code 2 in the CLI. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    readonly source: string,
    readonly lines: string[],
  ) {
    super(`invalid configuration (${source}):\n  ${lines.join('\n  ')}`);
  }
}

/** Values given on the command line, highest precedence. */
export type ConfigFlags = {
  port?: string | number;
  bind?: string;
  token?: string;
  password?: string;
};

export type LoadedConfig = {
  config: LoopgateConfig;
  /** The file that was read, or undefined when none exists (defaults apply). */
  path: string | undefined;
  /** Raw merged input, kept to tell where a credential came from. */
  explicit: {
    token: 'config' | 'env' | 'flag' | undefined;
    password: 'config' | 'env' | 'flag' | undefined;
  };
};

/**
 * flag > environment > file > default. The file is JSON5; a missing default
 * file means defaults, but a file named explicitly (LOOPGATE_CONFIG or
 * --config) must exist. Every problem is reported with its key path.
 */
export async function loadConfig(
  options: { flags?: ConfigFlags; env?: Env; configPath?: string } = {},
): Promise<LoadedConfig> {
  const env = options.env ?? process.env;
  const explicitPath = options.configPath ?? env.LOOPGATE_CONFIG;
  const path = explicitPath ?? defaultConfigPath(env);
  let text: string | undefined;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' || explicitPath) {
      throw new ConfigError(path, [
        code === 'ENOENT' ? 'file not found' : `cannot read file (${code})`,
      ]);
    }
  }

  let fileInput: Record<string, unknown> = {};
  if (text !== undefined) {
    try {
      const parsed: unknown = JSON5.parse(text);
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
        throw new ConfigError(path, ['(root): expected an object']);
      }
      fileInput = parsed as Record<string, unknown>;
    } catch (error) {
      if (error instanceof ConfigError) throw error;
      const e = error as { lineNumber?: number; columnNumber?: number; message: string };
      const where = e.lineNumber ? ` at line ${e.lineNumber}, column ${e.columnNumber}` : '';
      throw new ConfigError(path, [
        `not valid JSON5${where}: ${e.message.replace(/^JSON5: /, '')}`,
      ]);
    }
  }

  const fileAuth = (
    fileInput.gateway as { auth?: { token?: unknown; password?: unknown } } | undefined
  )?.auth;
  const merged = structuredClone(fileInput) as LoopgateConfigInput & Record<string, unknown>;
  const gateway = objectAt(merged, 'gateway');
  const auth = objectAt(gateway, 'auth');
  const explicit: LoadedConfig['explicit'] = {
    token: fileAuth?.token !== undefined ? 'config' : undefined,
    password: fileAuth?.password !== undefined ? 'config' : undefined,
  };

  const set = (key: 'port' | 'bind', value: string | number | undefined) => {
    if (value !== undefined && value !== '')
      gateway[key] = key === 'port' ? numberish(value) : value;
  };
  set('port', env.LOOPGATE_GATEWAY_PORT);
  set('bind', env.LOOPGATE_GATEWAY_BIND);
  if (env.LOOPGATE_GATEWAY_TOKEN) {
    auth.token = env.LOOPGATE_GATEWAY_TOKEN;
    explicit.token = 'env';
  }
  if (env.LOOPGATE_GATEWAY_PASSWORD) {
    auth.password = env.LOOPGATE_GATEWAY_PASSWORD;
    explicit.password = 'env';
  }
  if (env.LOOPGATE_LOG_LEVEL) objectAt(merged, 'logging').level = env.LOOPGATE_LOG_LEVEL;

  const flags = options.flags ?? {};
  set('port', flags.port);
  set('bind', flags.bind);
  if (flags.token) {
    auth.token = flags.token;
    explicit.token = 'flag';
  }
  if (flags.password) {
    auth.password = flags.password;
    explicit.password = 'flag';
  }

  // A profile whose config sets no port gets its own derived one, never the default profile's 18789.
  const profile = activeProfile(env);
  if (profile && gateway.port === undefined) gateway.port = profilePort(profile);

  const result = LoopgateConfig.safeParse(merged);
  if (!result.success) {
    throw new ConfigError(
      text === undefined ? 'flags and environment' : path,
      formatConfigIssues(result.error, merged),
    );
  }
  return { config: result.data, path: text === undefined ? undefined : path, explicit };
}

/** The object under `key`, created empty when absent, so overrides can be written into it. */
function objectAt(parent: Record<string, unknown>, key: string): Record<string, unknown> {
  const existing = parent[key];
  if (existing !== null && typeof existing === 'object' && !Array.isArray(existing))
    return existing as Record<string, unknown>;
  const created: Record<string, unknown> = {};
  parent[key] = created;
  return created;
}

/** Ports from the environment or flags are strings; keep non-numbers as-is so the error shows them. */
function numberish(value: string | number): string | number {
  if (typeof value === 'number') return value;
  return /^\d+$/.test(value.trim()) ? Number(value.trim()) : value;
}
