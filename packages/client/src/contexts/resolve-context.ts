import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import {
  type GatewayContext,
  GatewayError,
  type LoopgateConfig,
  type RemoteConfig,
} from '@loopgate/protocol';

type Env = Record<string, string | undefined>;

/** A secret file is a few dozen bytes; refuse to slurp anything big. */
const MAX_SECRET_BYTES = 64 * 1024;

/**
 * Which context applies: `--context`, else `LOOPGATE_CONTEXT`, else the
 * config's `currentContext` — unless a URL was given outright, which names
 * its own target.
 */
export function chosenContext(
  config: LoopgateConfig | undefined,
  options: { flag: string | undefined; env: Env; urlGiven: boolean },
): string | undefined {
  return (
    options.flag ??
    options.env.LOOPGATE_CONTEXT ??
    (options.urlGiven ? undefined : config?.currentContext)
  );
}

/**
 * A context as the remote settings it stands for, with its secrets read from
 * the file or environment variable it names. Throws BAD_REQUEST naming the
 * key (a usage error in the CLI) for an unknown context or unreadable secret.
 */
export function contextAsRemote(
  config: LoopgateConfig | undefined,
  name: string,
  configPath: string,
  env: Env,
): RemoteConfig {
  const contexts = config?.contexts ?? {};
  const context: GatewayContext | undefined = Object.hasOwn(contexts, name)
    ? contexts[name]
    : undefined;
  if (!context) {
    const known = Object.keys(contexts);
    throw new GatewayError(
      'BAD_REQUEST',
      `no context "${name}" in ${configPath}${known.length ? ` (known: ${known.join(', ')})` : ' (it has no contexts)'}`,
      { details: { configPath, issues: [`contexts.${name}: not defined`] } },
    );
  }
  const token = referencedSecret(context, 'token', configPath, env, `contexts.${name}`);
  const password = referencedSecret(context, 'password', configPath, env, `contexts.${name}`);
  return {
    ...(context.url ? { url: context.url } : {}),
    ...(context.ssh ? { ssh: context.ssh } : {}),
    ...(context.tlsFingerprint ? { tlsFingerprint: context.tlsFingerprint } : {}),
    ...(token ? { token } : {}),
    ...(password ? { password } : {}),
  };
}

/**
 * A secret named by `<kind>File` (read now) or `<kind>Env`, as contexts and
 * `gateway.remote` name them; `keyPath` names the config key in errors.
 */
export function referencedSecret(
  refs: Partial<Record<`${'token' | 'password'}${'File' | 'Env'}`, string>>,
  kind: 'token' | 'password',
  configPath: string,
  env: Env,
  keyPath: string,
): string | undefined {
  const file = refs[`${kind}File`];
  const variable = refs[`${kind}Env`];
  if (file) return readSecretFile(file, configPath, `${keyPath}.${kind}File`);
  return variable ? env[variable] || undefined : undefined;
}

/** `~/x` and paths relative to the config file's folder, as people write them there. */
function expandPath(path: string, configPath: string): string {
  if (path === '~' || path.startsWith('~/')) return join(homedir(), path.slice(1));
  return isAbsolute(path) ? path : resolve(dirname(configPath), path);
}

function readSecretFile(path: string, configPath: string, key: string): string {
  const full = expandPath(path, configPath);
  let text: string;
  try {
    text = readFileSync(full, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    throw new GatewayError('BAD_REQUEST', `${key}: cannot read ${full} (${code})`, {
      details: { configPath, issues: [`${key}: cannot read ${full} (${code})`] },
    });
  }
  if (text.length > MAX_SECRET_BYTES)
    throw new GatewayError('BAD_REQUEST', `${key}: ${full} is too big to be a secret`, {
      details: { configPath, issues: [`${key}: file too big`] },
    });
  return text.trim();
}
