import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { DEFAULT_PORT } from './constants.js';

type Env = Record<string, string | undefined>;

/**
 * Profiles: isolated gateways on one host. Profile `<name>` lives in
 * `<base>/profiles/<name>` (base: `LOOPGATE_STATE_DIR` or `~/.loopgate`) with
 * its own config, token, lock, logs and nodes, and listens on a port derived
 * from its name unless its config sets one. `default` is the base dir itself.
 */
export const PROFILE_NAME_PATTERN = /^[a-z0-9][a-z0-9-]{0,31}$/;
/** The name that means "no profile": the base state dir and port 18789. */
export const DEFAULT_PROFILE = 'default';
/**
 * Derived ports fall in 20000–29999: away from 18789 and below Linux's
 * ephemeral range (32768+), where an outgoing connection could take them.
 */
export const PROFILE_PORT_BASE = 20_000;
export const PROFILE_PORT_SPAN = 10_000;

/** A profile name outside `[a-z0-9][a-z0-9-]{0,31}`: it becomes a folder name, so it is checked. */
export class ProfileNameError extends Error {
  override readonly name = 'ProfileNameError';
}

/** The name, checked; `source` says where it came from (`--profile`, `LOOPGATE_PROFILE`). */
export function checkProfileName(name: string, source: string): string {
  if (!PROFILE_NAME_PATTERN.test(name)) {
    throw new ProfileNameError(
      `${source}: invalid profile name ${JSON.stringify(name.slice(0, 40))}: use 1–32 of a-z, 0-9 and "-", starting with a letter or digit`,
    );
  }
  return name;
}

/** The active profile from `LOOPGATE_PROFILE`, or undefined for the default one. */
export function activeProfile(env: Env = process.env): string | undefined {
  const name = env.LOOPGATE_PROFILE;
  if (name === undefined || name === '' || name === DEFAULT_PROFILE) return undefined;
  return checkProfileName(name, 'LOOPGATE_PROFILE');
}

/** `LOOPGATE_STATE_DIR`, or `~/.loopgate`: the default profile's dir and the parent of the others. */
export function baseStateDir(env: Env = process.env): string {
  return env.LOOPGATE_STATE_DIR ? resolve(env.LOOPGATE_STATE_DIR) : join(homedir(), '.loopgate');
}

/** Where the active profile keeps its state (token, lock, config, logs, nodes, sessions). */
export function resolveStateDir(env: Env = process.env): string {
  const profile = activeProfile(env);
  const base = baseStateDir(env);
  return profile ? join(base, 'profiles', profile) : base;
}

/**
 * A profile's port when its config sets none:
 * `20000 + (FNV-1a-32(name) mod 10000)`. Stable across hosts and runs; two
 * names can collide (about 1 in 10 000 per pair) — set `gateway.port` in one
 * profile's config then.
 */
export function profilePort(name: string): number {
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(name, 'utf8')) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return PROFILE_PORT_BASE + (hash % PROFILE_PORT_SPAN);
}

/** The port a gateway of the active profile listens on when nothing configures one. */
export function defaultGatewayPort(env: Env = process.env): number {
  const profile = activeProfile(env);
  return profile ? profilePort(profile) : DEFAULT_PORT;
}
