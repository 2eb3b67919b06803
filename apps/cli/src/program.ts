import { LOOPGATE_VERSION } from '@loopgate/protocol';
import { Command } from 'commander';
import { registerAgentCommands } from './commands/agent.js';
import { registerCompletionCommands } from './commands/completion.js';
import { registerContextCommands } from './commands/context.js';
import { registerDoctorCommand } from './commands/doctor.js';
import { registerGatewayCommands } from './commands/gateway.js';
import { registerLifecycleCommands } from './commands/lifecycle.js';
import { registerLogCommands } from './commands/logs.js';
import { registerNodeHostCommands } from './commands/node-host.js';
import { registerNodesCommands } from './commands/nodes.js';
import { registerRemoteCommands } from './commands/remote.js';
import { registerServiceCommands } from './commands/service.js';
import { registerStartCommand } from './commands/start.js';
import { registerTokensCommands } from './commands/tokens.js';
import { registerTuiCommand } from './commands/tui.js';
import { addProfileOption, applyProfile } from './profile.js';
import { resolveSecretFlags } from './secret-flags.js';

/** The whole `loopgate` command tree. Each area registers itself here. */
export function buildProgram(
  options: { quietUsageErrors?: boolean; completionCommands?: boolean } = {},
): Command {
  const program = new Command('loopgate')
    .description('Loopgate: a typed RPC gateway for self-hosted agent systems')
    .version(LOOPGATE_VERSION)
    .showSuggestionAfterError()
    .configureHelp({ sortSubcommands: true, showGlobalOptions: true })
    // inherited by every subcommand registered below: errors come back to run.ts for one exit-code policy
    .exitOverride()
    // under --json the caller prints usage errors as JSON instead (inherited like exitOverride)
    .configureOutput(options.quietUsageErrors ? { outputError: () => {} } : {})
    // first: the profile decides the state dir every later step reads
    .hook('preAction', (root) => applyProfile(root))
    // --token-file / --token - (and the password equivalents) become plain flags.token / flags.password here, once for every command
    .hook('preAction', (_program, action) => resolveSecretFlags(action));
  addProfileOption(program);
  registerStartCommand(program);
  const gateway = registerGatewayCommands(program);
  registerLifecycleCommands(gateway);
  registerServiceCommands(gateway);
  registerRemoteCommands(program);
  registerLogCommands(program);
  registerDoctorCommand(program);
  registerContextCommands(program);
  registerNodesCommands(program);
  registerNodeHostCommands(program);
  registerAgentCommands(program);
  registerTokensCommands(program);
  registerTuiCommand(program);
  // The completion library adds its own completion commands to the tree it is given.
  if (options.completionCommands !== false)
    registerCompletionCommands(program, () =>
      buildProgram({ ...options, completionCommands: false }),
    );
  return program;
}
