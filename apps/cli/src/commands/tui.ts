import type { Command } from 'commander';
import { addClientOptions, type ClientFlags } from '../connect.js';
import { UsageError } from '../exit-codes.js';

/** `loopgate tui`: the Ink dashboard against the local or a remote gateway. */
export function registerTuiCommand(program: Command): void {
  addClientOptions(
    program
      .command('tui')
      .description('the operator dashboard (Ink)')
      .option('--read-only', 'hide destructive actions (approve, reject, remove, invoke, send)')
      .option('--log-file <path>', 'where the dashboard writes its log (never the screen)')
      .option('--config <path>', 'config file to read and save gateway.remote.* in')
      .option('--ssh-config <path>', 'ssh_config file for the tunnel (ssh -F)'),
  ).action(
    async (
      flags: ClientFlags & {
        readOnly?: boolean;
        logFile?: string;
        config?: string;
        sshConfig?: string;
      },
    ) => {
      if (flags.json)
        throw new UsageError(
          'the dashboard has no --json output; use loopgate status --json or loopgate health --json',
        );
      const { runDashboard } = await import('@loopgate/dashboard');
      process.exitCode = await runDashboard({
        ...(flags.url ? { url: flags.url } : {}),
        ...(flags.token ? { token: flags.token } : {}),
        ...(flags.password ? { password: flags.password } : {}),
        ...(flags.ssh ? { ssh: flags.ssh } : {}),
        ...(flags.context ? { context: flags.context } : {}),
        ...(flags.tlsFingerprint ? { tlsFingerprint: flags.tlsFingerprint } : {}),
        ...(flags.readOnly ? { readOnly: true } : {}),
        ...(flags.logFile ? { logFile: flags.logFile } : {}),
        ...(flags.config ? { configPath: flags.config } : {}),
        ...(flags.sshConfig ? { sshConfig: flags.sshConfig } : {}),
      });
    },
  );
}
