import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  activeProfile,
  DEFAULT_HOST,
  DEFAULT_PORT,
  defaultGatewayPort,
  formatConfigIssues,
  GatewayError,
  LoopgateConfig,
  profilePort,
  type RemoteConfig,
  resolveStateDir,
  type SshTunnelConfig,
  untrustedPathReason,
} from '@loopgate/protocol';
import JSON5 from 'json5';
import { chosenContext, contextAsRemote, referencedSecret } from './contexts/index.js';

/** Where a value of the target came from, for `status`-style output (never the value itself). */
export type TargetSource = 'option' | 'env' | 'config' | 'context' | 'state-file' | 'default';

export type GatewayTargetFlags = {
  url?: string;
  token?: string;
  password?: string;
  /** The gateway's state dir (token file); default `LOOPGATE_STATE_DIR` or `~/.loopgate`. */
  stateDir?: string;
  /** Default `LOOPGATE_CONFIG` or `<stateDir>/config.json5`. */
  configPath?: string;
  /** A named context from the config's `contexts` (default `LOOPGATE_CONTEXT`, then `currentContext`). */
  context?: string;
  /** Default `process.env`. */
  env?: Record<string, string | undefined>;
};

export type GatewayTarget = {
  url: string;
  token?: string;
  password?: string;
  /** `remote` when the config says `gateway.mode: "remote"`. */
  mode: 'local' | 'remote';
  /** `gateway.remote.tlsFingerprint`, for the TLS pinning socket factory. */
  tlsFingerprint?: string | string[];
  /** `gateway.remote.ssh`, for the SSH tunnel supervisor. */
  ssh?: SshTunnelConfig;
  /** The context in use, if any. */
  context?: string;
  source: { url: TargetSource; token?: TargetSource; password?: TargetSource };
};

export const TOKEN_FILE_NAME = 'gateway-token';

type Env = Record<string, string | undefined>;

function stateDirOf(flags: GatewayTargetFlags, env: Env): string {
  if (flags.stateDir) return resolve(flags.stateDir);
  return resolveStateDir(env);
}

function badConfig(path: string, lines: string[]): GatewayError {
  return new GatewayError('BAD_REQUEST', `invalid configuration (${path}): ${lines.join('; ')}`, {
    details: { configPath: path, issues: lines },
  });
}

/**
 * Reads the config file the way the gateway does: JSON5, validated by the
 * protocol schema; a missing default file means defaults, a file named
 * explicitly must exist.
 */
function readConfig(
  flags: GatewayTargetFlags,
  env: Env,
  stateDir: string,
): LoopgateConfig | undefined {
  const explicit = flags.configPath ?? env.LOOPGATE_CONFIG;
  const path = explicit ? resolve(explicit) : join(stateDir, 'config.json5');
  if (!explicit) assertTrustedPath(stateDir, path);
  assertTrustedPath(path, path);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && !explicit) return undefined;
    throw badConfig(path, [code === 'ENOENT' ? 'file not found' : `cannot read file (${code})`]);
  }
  let input: unknown;
  try {
    input = JSON5.parse(text);
  } catch (error) {
    const e = error as { lineNumber?: number; columnNumber?: number; message: string };
    const where = e.lineNumber ? ` at line ${e.lineNumber}, column ${e.columnNumber}` : '';
    throw badConfig(path, [`not valid JSON5${where}: ${e.message.replace(/^JSON5: /, '')}`]);
  }
  withProfilePort(input, env);
  const result = LoopgateConfig.safeParse(input);
  if (!result.success)
    throw badConfig(path, formatConfigIssues(result.error, input).map(hideSecretValue));
  return result.data;
}

/** As the gateway's loadConfig does: a profile's config without a port means the profile's derived port. */
function withProfilePort(input: unknown, env: Env): void {
  const profile = activeProfile(env);
  if (!profile || input === null || typeof input !== 'object') return;
  const gateway = (input as { gateway?: unknown }).gateway;
  if (gateway === undefined)
    (input as { gateway?: unknown }).gateway = { port: profilePort(profile) };
  else if (gateway !== null && typeof gateway === 'object' && !('port' in gateway))
    (gateway as { port?: number }).port = profilePort(profile);
}

/** `gateway.auth.token: expected …, got "abc"` must not echo the credential back. */
function hideSecretValue(line: string): string {
  return /^[\w.]*(token|password|apikey|secret)\w*:/i.test(line)
    ? line.replace(/, got .*$/s, ', got (hidden)')
    : line;
}

/**
 * The config names the gateway and the files whose contents are sent to it
 * as credentials, so a config (or a state dir) another local user may write
 * would let them send this user's token to their own server.
 */
function assertTrustedPath(path: string, configPath: string): void {
  const reason = untrustedPathReason(path);
  if (!reason) return;
  const issue = `${path} ${reason}`;
  throw new GatewayError('BAD_REQUEST', `refusing to read the gateway settings: ${issue}`, {
    details: { configPath, issues: [issue] },
  });
}

function readTokenFile(stateDir: string): string | undefined {
  assertTrustedPath(stateDir, join(stateDir, 'config.json5'));
  try {
    const token = readFileSync(join(stateDir, TOKEN_FILE_NAME), 'utf8').trim();
    return token === '' ? undefined : token;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw new GatewayError(
      'UNAUTHORIZED',
      `cannot read the gateway token file in the state dir (${code})`,
      {
        details: { reason: code },
      },
    );
  }
}

/** `gateway.remote` with a secret named by file or variable read in, unless given inline. */
function withReferencedSecrets(remote: RemoteConfig, configPath: string, env: Env): RemoteConfig {
  const token =
    remote.token ?? referencedSecret(remote, 'token', configPath, env, 'gateway.remote');
  const password =
    remote.password ?? referencedSecret(remote, 'password', configPath, env, 'gateway.remote');
  return { ...remote, ...(token ? { token } : {}), ...(password ? { password } : {}) };
}

/** The first defined value, with its source. */
function pick<T>(...candidates: [T | undefined, TargetSource][]): [T, TargetSource] | undefined {
  for (const candidate of candidates) {
    if (candidate[0] !== undefined && candidate[0] !== '') return candidate as [T, TargetSource];
  }
  return undefined;
}

/** Where a host for a local gateway is reachable from this machine. */
function localHost(config: LoopgateConfig | undefined): string {
  const gw = config?.gateway;
  const custom = gw?.bind === 'custom' ? gw.customBindHost : undefined;
  if (!custom || custom === '0.0.0.0' || custom === '::') return DEFAULT_HOST;
  return custom.includes(':') ? `[${custom}]` : custom;
}

/**
 * Which gateway to talk to and with which credentials, as every client
 * (CLI, dashboard, scripts) finds it: explicit option > environment
 * (`LOOPGATE_GATEWAY_URL`, `LOOPGATE_GATEWAY_TOKEN`,
 * `LOOPGATE_GATEWAY_PASSWORD`) > config file (`gateway.port`, or
 * `gateway.remote.*` when `gateway.mode` is `remote`) > defaults
 * (`ws://127.0.0.1:18789`, the token file the local gateway wrote to its
 * state dir). Throws a `BAD_REQUEST` GatewayError naming the key for a bad config.
 */
export function resolveGatewayTarget(flags: GatewayTargetFlags = {}): GatewayTarget {
  const env = flags.env ?? process.env;
  const stateDir = stateDirOf(flags, env);
  const config = readConfig(flags, env, stateDir);
  const gw = config?.gateway;
  const configPath = resolve(
    flags.configPath ?? env.LOOPGATE_CONFIG ?? join(stateDir, 'config.json5'),
  );
  const contextName = chosenContext(config, {
    flag: flags.context,
    env,
    urlGiven: Boolean(flags.url || env.LOOPGATE_GATEWAY_URL),
  });
  // A context stands for a remote gateway: it replaces gateway.remote, whatever gateway.mode says.
  const remote = contextName
    ? contextAsRemote(config, contextName, configPath, env)
    : gw?.mode === 'remote'
      ? withReferencedSecrets(gw.remote ?? {}, configPath, env)
      : undefined;
  const fromRemote: TargetSource = contextName ? 'context' : 'config';

  let configUrl: string | undefined;
  if (remote) {
    configUrl =
      remote.url ??
      (remote.ssh
        ? `ws://${DEFAULT_HOST}:${remote.ssh.localPort ?? gw?.port ?? DEFAULT_PORT}`
        : undefined);
  } else {
    // The local gateway honours LOOPGATE_GATEWAY_PORT with or without a config file; so do we.
    const envPort = env.LOOPGATE_GATEWAY_PORT;
    const port = envPort && /^\d+$/.test(envPort) ? Number(envPort) : gw?.port;
    if (gw && port !== undefined)
      configUrl = `${gw.tls.enabled ? 'wss' : 'ws'}://${localHost(config)}:${port}`;
    else if (port !== undefined) configUrl = `ws://${DEFAULT_HOST}:${port}`;
  }
  const url = pick<string>(
    [flags.url, 'option'],
    [env.LOOPGATE_GATEWAY_URL, 'env'],
    [configUrl, remote ? fromRemote : 'config'],
  );
  if (!url && remote) {
    throw badConfig(flags.configPath ?? env.LOOPGATE_CONFIG ?? join(stateDir, 'config.json5'), [
      'gateway.remote.url: required when gateway.mode is "remote" (or set gateway.remote.ssh)',
    ]);
  }

  const token = pick<string>(
    [flags.token, 'option'],
    [env.LOOPGATE_GATEWAY_TOKEN, 'env'],
    [remote ? remote.token : gw?.auth.token, remote ? fromRemote : 'config'],
    // The local gateway's generated token belongs to the local gateway only.
    [remote ? undefined : readTokenFile(stateDir), 'state-file'],
  );
  const password = pick<string>(
    [flags.password, 'option'],
    [env.LOOPGATE_GATEWAY_PASSWORD, 'env'],
    [remote ? remote.password : gw?.auth.password, remote ? fromRemote : 'config'],
  );

  return {
    url: url?.[0] ?? `ws://${DEFAULT_HOST}:${defaultGatewayPort(env)}`,
    mode: remote ? 'remote' : 'local',
    ...(token ? { token: token[0] } : {}),
    ...(password ? { password: password[0] } : {}),
    ...(remote?.tlsFingerprint ? { tlsFingerprint: remote.tlsFingerprint } : {}),
    ...(remote?.ssh ? { ssh: remote.ssh } : {}),
    ...(contextName ? { context: contextName } : {}),
    source: {
      url: url?.[1] ?? 'default',
      ...(token ? { token: token[1] } : {}),
      ...(password ? { password: password[1] } : {}),
    },
  };
}
