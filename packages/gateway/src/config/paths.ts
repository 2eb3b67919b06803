import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

export type Env = Record<string, string | undefined>;

/** `~/.loopgate`, or `LOOPGATE_STATE_DIR`. Holds the token, pairing state, transcripts, logs. */
export function defaultStateDir(env: Env = process.env): string {
  return env.LOOPGATE_STATE_DIR ? resolve(env.LOOPGATE_STATE_DIR) : join(homedir(), '.loopgate');
}

/** `LOOPGATE_CONFIG`, or `config.json5` in the state dir. */
export function defaultConfigPath(env: Env = process.env): string {
  return env.LOOPGATE_CONFIG
    ? resolve(env.LOOPGATE_CONFIG)
    : join(defaultStateDir(env), 'config.json5');
}
