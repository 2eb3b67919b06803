import type { NodeCommands } from '../commands.js';
import { fsReadCommand, resolveRoots } from './fs-read.js';
import { systemInfoCommand } from './system-info.js';
import { type Notification, systemNotifyCommand } from './system-notify.js';
import { type AllowedExecutable, resolveAllowlist, systemRunCommand } from './system-run.js';

export type { FsReadResult } from './fs-read.js';
export type { Notification } from './system-notify.js';
export type { AllowedExecutable, SystemRunResult } from './system-run.js';

export type HostCommandOptions = {
  nodeName: string;
  /** `fs.read` is offered only when at least one root is given. */
  fs?: { roots: string[]; maxBytes?: number };
  /** `system.run` is offered only with a non-empty allowlist of executables. */
  run?: { allow: string[]; timeoutMs?: number; maxOutputBytes?: number };
  /** Where `system.notify` messages go (the host prints them). */
  notify: (notification: Notification) => void;
  env?: Record<string, string | undefined>;
};

/**
 * The node host's default command set, safe by default: `system.info` and
 * `system.notify` always; `fs.read` only inside configured roots;
 * `system.run` only for an explicit allowlist. Bad settings (a root or an
 * executable that does not exist) fail here, at start-up.
 */
export async function createHostCommands(options: HostCommandOptions): Promise<{
  commands: NodeCommands;
  disabled: string[];
  /** What `system.run` admits: each entry by its configured name or this absolute path. */
  runAllowlist: AllowedExecutable[];
}> {
  const commands: NodeCommands = {
    'system.info': systemInfoCommand(options.nodeName),
    'system.notify': systemNotifyCommand(options.notify),
  };
  const disabled: string[] = [];
  const roots = await resolveRoots(options.fs?.roots ?? []);
  if (roots.length > 0) {
    commands['fs.read'] = fsReadCommand(roots, {
      ...(options.fs?.maxBytes ? { maxBytes: options.fs.maxBytes } : {}),
    });
  } else {
    disabled.push('fs.read (no shared directory: pass --fs-root <dir>)');
  }
  const allow = options.run?.allow ?? [];
  let runAllowlist: AllowedExecutable[] = [];
  if (allow.length > 0) {
    const allowed = await resolveAllowlist(allow, options.env);
    runAllowlist = [...new Set(allowed.values())];
    commands['system.run'] = systemRunCommand(allowed, {
      roots,
      ...(options.run?.timeoutMs ? { timeoutMs: options.run.timeoutMs } : {}),
      ...(options.run?.maxOutputBytes ? { maxOutputBytes: options.run.maxOutputBytes } : {}),
      ...(options.env ? { env: options.env } : {}),
    });
  } else {
    disabled.push('system.run (no allowlist: pass --allow-exec <executable>)');
  }
  return { commands, disabled, runAllowlist };
}
