import { join, resolve } from 'node:path';
import { resolveStateDir } from '@loopgate/protocol';

export type Env = Record<string, string | undefined>;

/**
 * `~/.loopgate` (or `LOOPGATE_STATE_DIR`), or with `LOOPGATE_PROFILE=<name>`
 * its `profiles/<name>` folder. Holds the token, lock, pairing state, transcripts, logs.
 */
export function defaultStateDir(env: Env = process.env): string {
  return resolveStateDir(env);
}

/** `LOOPGATE_CONFIG`, or `config.json5` in the (profile's) state dir. */
export function defaultConfigPath(env: Env = process.env): string {
  return env.LOOPGATE_CONFIG
    ? resolve(env.LOOPGATE_CONFIG)
    : join(defaultStateDir(env), 'config.json5');
}
