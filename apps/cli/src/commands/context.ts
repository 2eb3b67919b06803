import { resolveGatewayTarget, saveCurrentContext } from '@loopgate/client';
import { type LoopgateConfig, resolveStateDir } from '@loopgate/protocol';
import type { Command } from 'commander';
import { beforeConnecting, beforeConnectingAsync, UsageError } from '../exit-codes.js';
import { note, printResult } from '../output.js';

type ContextFlags = { config?: string; json?: boolean };

type ContextRow = { name: string; current: boolean; target: string; credential: string };

/**
 * `loopgate context list | use <name> | current`: named gateways from the
 * config's `contexts`, the way kubectl and k9s switch clusters. The CLI only
 * ever writes `currentContext`; secrets stay where the context names them.
 */
export function registerContextCommands(program: Command): void {
  const context = program
    .command('context')
    .description('named gateways from the config (contexts): list, use, current');
  const configOption = (c: Command) =>
    c
      .option(
        '--config <path>',
        'config file (default: LOOPGATE_CONFIG or <state dir>/config.json5)',
      )
      .option('--json', 'print the result alone as JSON on stdout');

  configOption(context.command('list').description('every context, the current one marked')).action(
    async (flags: ContextFlags) => {
      const { config, current } = await readContexts(flags);
      const rows: ContextRow[] = Object.entries(config.contexts ?? {}).map(([name, c]) => ({
        name,
        current: name === current,
        target: c.ssh ? `ssh ${c.ssh.target}${c.url ? ` → ${c.url}` : ''}` : (c.url ?? '?'),
        credential: c.tokenFile
          ? `token file ${c.tokenFile}`
          : c.tokenEnv
            ? `token from $${c.tokenEnv}`
            : c.passwordFile
              ? `password file ${c.passwordFile}`
              : c.passwordEnv
                ? `password from $${c.passwordEnv}`
                : 'none',
      }));
      printResult(rows, {
        json: flags.json,
        human: (list) =>
          list.length === 0
            ? 'no contexts: add them under "contexts" in the config (see docs/operations.md)'
            : list
                .map(
                  (r) =>
                    `${r.current ? '*' : ' '} ${r.name.padEnd(16)} ${r.target}  (${r.credential})`,
                )
                .join('\n'),
      });
    },
  );

  configOption(
    context.command('current').description('the context client commands use now'),
  ).action(async (flags: ContextFlags) => {
    const { current } = await readContexts(flags);
    printResult(
      { current: current ?? null },
      {
        json: flags.json,
        human: (r) => r.current ?? 'none (the local gateway, or gateway.remote in remote mode)',
      },
    );
  });

  configOption(
    context
      .command('use')
      .description('make <name> the current context')
      .argument('<name>', 'context name'),
  ).action(async (name: string, flags: ContextFlags) => {
    const { config, path } = await readContexts(flags);
    if (!Object.hasOwn(config.contexts ?? {}, name))
      throw new UsageError(
        `no context "${name}" in ${path} (known: ${Object.keys(config.contexts ?? {}).join(', ') || 'none'})`,
      );
    const { previous, backup } = await beforeConnectingAsync(() => saveCurrentContext(path, name));
    printResult(
      { current: name, previous: previous ?? null },
      {
        json: flags.json,
        human: () => `current context: ${name}${previous ? ` (was ${previous})` : ''}`,
      },
    );
    if (!flags.json) note(`previous config kept as ${backup}`);
  });
}

async function readContexts(
  flags: ContextFlags,
): Promise<{ config: LoopgateConfig; current: string | undefined; path: string }> {
  const { loadConfig, defaultConfigPath } = await import('@loopgate/gateway');
  const path = flags.config ?? process.env.LOOPGATE_CONFIG ?? defaultConfigPath();
  const { config } = await loadConfig({ configPath: path }).catch((error: Error) => {
    if (error.name === 'ConfigError' && /file not found/.test(error.message))
      throw new UsageError(`no config file at ${path}: contexts live in it`);
    throw error;
  });
  // The context client commands would use now (LOOPGATE_CONTEXT wins over currentContext).
  const current = beforeConnecting(
    () => resolveGatewayTarget({ configPath: path, stateDir: resolveStateDir() }).context,
  );
  return { config, current, path };
}
