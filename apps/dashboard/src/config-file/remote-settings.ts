import { readFile, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import {
  DEFAULT_HOST,
  DEFAULT_PORT,
  formatConfigIssues,
  GatewayError,
  LoopgateConfig,
  untrustedPathReason,
  writeFileAtomic,
} from '@loopgate/protocol';
import JSON5 from 'json5';
import type { SshSettings } from '../gateway-port.js';
import {
  type ConnectionSettings,
  type SecretKind,
  type SecretSetting,
  TypedSecret,
} from '../state/index.js';
import { setJson5Member } from './json5-edit.js';

export const EMPTY_SETTINGS: ConnectionSettings = {
  mode: 'local',
  url: '',
  ssh: undefined,
  tlsFingerprint: [],
};

type RawConfig = Record<string, unknown>;

/** `gateway.mode` and `gateway.remote.*` from the config file; defaults when it does not exist. */
export async function readConnectionSettings(path: string): Promise<ConnectionSettings> {
  const raw = await readRawConfig(path);
  if (!raw) return EMPTY_SETTINGS;
  return settingsFromConfig(raw.value);
}

export function settingsFromConfig(config: RawConfig): ConnectionSettings {
  const gateway = record(config.gateway);
  const remote = record(gateway.remote);
  const ssh = record(remote.ssh);
  const pins = remote.tlsFingerprint;
  return {
    mode: gateway.mode === 'remote' ? 'remote' : 'local',
    url: typeof remote.url === 'string' ? remote.url : '',
    ssh:
      typeof ssh.target === 'string'
        ? dropUndefined({
            target: ssh.target,
            port: numberOr(ssh.port),
            identityFile: typeof ssh.identityFile === 'string' ? ssh.identityFile : undefined,
            localPort: numberOr(ssh.localPort),
            remotePort: numberOr(ssh.remotePort),
          })
        : undefined,
    tlsFingerprint:
      typeof pins === 'string'
        ? [pins]
        : Array.isArray(pins)
          ? pins.filter((p) => typeof p === 'string')
          : [],
    token: secretFromConfig(remote, 'token'),
    password: secretFromConfig(remote, 'password'),
  };
}

/** `token`, `tokenFile` or `tokenEnv` (the client's order: inline first). */
function secretFromConfig(remote: RawConfig, kind: SecretKind): SecretSetting | undefined {
  const inline = remote[kind];
  const file = remote[`${kind}File`];
  const variable = remote[`${kind}Env`];
  if (typeof inline === 'string') return { from: 'inline', secret: new TypedSecret(inline) };
  if (typeof file === 'string') return { from: 'file', path: file };
  if (typeof variable === 'string') return { from: 'env', name: variable };
  return undefined;
}

/**
 * The secret a setting stands for, read the way the client reads
 * `gateway.remote.tokenFile` / `tokenEnv` (a file relative to the config's folder).
 */
export async function resolveSecretSetting(
  setting: SecretSetting | undefined,
  kind: SecretKind,
  configPath: string,
): Promise<string | undefined> {
  switch (setting?.from) {
    case 'inline':
      return setting.secret.reveal();
    case 'env':
      return process.env[setting.name] || undefined;
    case 'file': {
      const path = expandPath(setting.path, configPath);
      try {
        return (await readFile(path, 'utf8')).trim() || undefined;
      } catch (error) {
        throw new GatewayError(
          'BAD_REQUEST',
          `${kind}: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
        );
      }
    }
    default:
      return undefined;
  }
}

function expandPath(path: string, configPath: string): string {
  if (path === '~' || path.startsWith('~/')) return join(homedir(), path.slice(1));
  return isAbsolute(path) ? path : resolve(dirname(configPath), path);
}

/** The local gateway's URL as the config file sets it up (port, TLS), on loopback. */
export async function localGatewayUrl(path: string): Promise<string> {
  // an unreadable or broken config means the defaults here; saving reports the problem with its path
  const raw = await readRawConfig(path).catch(() => undefined);
  const gateway = record(raw?.value.gateway);
  const port = typeof gateway.port === 'number' ? gateway.port : DEFAULT_PORT;
  const tls = record(gateway.tls).enabled === true;
  return `${tls ? 'wss' : 'ws'}://${DEFAULT_HOST}:${port}`;
}

export type SaveResult = { path: string; commentsKept: boolean };

/**
 * Writes `gateway.mode` and `gateway.remote.{url,ssh,tlsFingerprint}` into the
 * config file. Every other key (and `remote.token`/`password`, and SSH keys
 * the dashboard does not edit) is kept; comments and layout are kept too
 * unless the file's shape defeats the in-place edit. The result is validated
 * with the gateway's own schema before anything is written, and written
 * atomically (temp file, fsync, rename, fsync of the directory), so a crash
 * leaves the old file or the new one.
 */
export async function saveConnectionSettings(
  path: string,
  settings: ConnectionSettings,
): Promise<SaveResult> {
  const existing = await readRawConfig(path);
  const config: RawConfig = structuredClone(existing?.value ?? {});
  const gateway = { ...record(config.gateway) };
  config.gateway = gateway;
  const oldRemote = record(gateway.remote);
  const remote = remoteSection(oldRemote, settings);
  gateway.mode = settings.mode;
  gateway.remote = remote;

  const checked = LoopgateConfig.safeParse(config);
  if (!checked.success) {
    throw new GatewayError(
      'BAD_REQUEST',
      `not saved: ${formatConfigIssues(checked.error, config).join('; ')}`,
    );
  }

  let text: string | undefined;
  if (existing) {
    const withMode = setJson5Member(existing.text, ['gateway', 'mode'], settings.mode);
    text =
      withMode === undefined ? undefined : setJson5Member(withMode, ['gateway', 'remote'], remote);
    // the in-place edit must mean exactly what the parsed edit means, or it is not used
    if (text !== undefined && !sameJson(parseOrUndefined(text), config)) text = undefined;
  }
  const commentsKept = text !== undefined || !existing;
  text ??= `${JSON5.stringify(config, null, 2)}\n`;
  const mode = existing ? (await stat(path)).mode & 0o777 : 0o600;
  await writeFileAtomic(path, text, { mode }).catch((error: unknown) => {
    throw new GatewayError('UNAVAILABLE', (error as Error).message);
  });
  return { path, commentsKept };
}

function remoteSection(old: RawConfig, settings: ConnectionSettings): RawConfig {
  const remote: RawConfig = { ...old };
  delete remote.url;
  delete remote.ssh;
  delete remote.tlsFingerprint;
  if (settings.url) remote.url = settings.url;
  if (settings.ssh) {
    // keys the dashboard does not edit (allowPortFallback) stay as they were
    const oldSsh = record(old.ssh);
    const { target, port, identityFile, localPort, remotePort, ...unmanaged } = oldSsh;
    remote.ssh = dropUndefined({ ...unmanaged, ...(settings.ssh satisfies SshSettings) });
  }
  if (settings.tlsFingerprint.length === 1) remote.tlsFingerprint = settings.tlsFingerprint[0];
  else if (settings.tlsFingerprint.length > 1) remote.tlsFingerprint = settings.tlsFingerprint;
  for (const kind of ['token', 'password'] as const) {
    const setting = settings[kind];
    // not edited: the file's credential stays as it is
    if (setting === undefined) continue;
    delete remote[kind];
    delete remote[`${kind}File`];
    delete remote[`${kind}Env`];
    if (setting.from === 'inline') remote[kind] = setting.secret.reveal();
    if (setting.from === 'file') remote[`${kind}File`] = setting.path;
    if (setting.from === 'env') remote[`${kind}Env`] = setting.name;
  }
  return remote;
}

async function readRawConfig(
  path: string,
): Promise<{ text: string; value: RawConfig } | undefined> {
  // The file names the gateway and the files sent to it as credentials: another user's word on them is not taken.
  const unsafe = untrustedPathReason(path);
  if (unsafe) throw new GatewayError('BAD_REQUEST', `refusing to read ${path}: it ${unsafe}`);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new GatewayError(
      'UNAVAILABLE',
      `cannot read ${path} (${(error as NodeJS.ErrnoException).code})`,
    );
  }
  const value = parseOrUndefined(text);
  if (value === undefined)
    throw new GatewayError('BAD_REQUEST', `${path} is not valid JSON5; fix it before saving`);
  return { text, value };
}

function parseOrUndefined(text: string): RawConfig | undefined {
  if (text.trim() === '') return {};
  try {
    const value: unknown = JSON5.parse(text);
    return value !== null && typeof value === 'object' && !Array.isArray(value)
      ? (value as RawConfig)
      : undefined;
  } catch {
    // not JSON5: the caller says so (or, when checking its own edit, falls back to a full rewrite)
    return undefined;
  }
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(sortKeys(a)) === JSON.stringify(sortKeys(b));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value)
        .filter(([, v]) => v !== undefined)
        .sort(([x], [y]) => x.localeCompare(y))
        .map(([k, v]) => [k, sortKeys(v)]),
    );
  }
  return value;
}

function record(value: unknown): RawConfig {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
    ? (value as RawConfig)
    : {};
}

function numberOr(value: unknown): number | undefined {
  return typeof value === 'number' ? value : undefined;
}

function dropUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}
