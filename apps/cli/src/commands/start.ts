import type { Command } from 'commander';
import { note } from '../output.js';
import { gatewayRunOptions, startGatewayWithSignals } from './gateway.js';

/**
 * The main job on a fresh machine: a local gateway on embedded defaults and,
 * when there is a terminal, the dashboard on top of it in the same process.
 */
export function registerStartCommand(program: Command): void {
  gatewayRunOptions(
    program
      .command('start')
      .description('run a local gateway with the dashboard (no config needed)')
      .option('--no-dashboard', 'run the gateway only'),
  ).action(
    async (flags: {
      port?: string;
      bind?: string;
      config?: string;
      verbose?: boolean;
      dashboard: boolean;
    }) => {
      const interactive = flags.dashboard && process.stdin.isTTY && process.stdout.isTTY;
      const { gateway, signals } = await startGatewayWithSignals(
        { ...flags, verbose: interactive ? false : flags.verbose },
        { quiet: interactive },
      );
      if (!interactive) {
        if (flags.dashboard)
          note(
            'no terminal attached: running the gateway only (open the dashboard elsewhere with: loopgate tui)',
          );
        note('press Ctrl+C to stop');
        await signals.stopGatewayOnSignal(gateway, () => note('stopping…'));
        return;
      }
      // The dashboard owns Ctrl+C (and stops the gateway when it closes).
      signals.release();
      const { runDashboard } = await import('@loopgate/dashboard');
      // Same process, so hand over the credential directly instead of re-reading it.
      const { token, password } = gateway.services.config.gateway.auth;
      const exitCode = await runDashboard({
        url: gateway.url,
        ...(token ? { token } : {}),
        ...(password ? { password } : {}),
      });
      await gateway.stop('dashboard closed');
      process.exitCode = exitCode;
    },
  );
}
