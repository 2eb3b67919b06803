import { activeProfile, checkProfileName, ProfileNameError } from '@loopgate/protocol';
import type { Command } from 'commander';
import { UsageError } from './exit-codes.js';

/** `--profile <name>` on the root command, so every command (before or after its name) takes it. */
export function addProfileOption(program: Command): Command {
  return program.option(
    '--profile <name>',
    'use an isolated profile: its own state dir (~/.loopgate/profiles/<name>), config, token, lock, logs and port (or LOOPGATE_PROFILE)',
  );
}

/**
 * Puts the profile into `LOOPGATE_PROFILE` before any command runs: the state
 * dir, config path and default port are all resolved from the environment, by
 * the CLI, the gateway, the client and the dashboard alike. A bad name is a
 * usage error (exit 2) before anything is touched.
 */
export function applyProfile(program: Command): void {
  const flag = (program.opts() as { profile?: string }).profile;
  try {
    if (flag !== undefined) process.env.LOOPGATE_PROFILE = checkProfileName(flag, '--profile');
    activeProfile(process.env);
  } catch (error) {
    if (error instanceof ProfileNameError) throw new UsageError(error.message);
    throw error;
  }
}
