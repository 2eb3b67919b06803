export {
  type CommandContext,
  type CommandDefinition,
  CommandError,
  type CommandHandler,
  defineCommand,
  type NodeCommand,
  type NodeCommands,
  type ParamsSchema,
} from './commands.js';
export {
  type CreateNodeOptions,
  createNode,
  type LoopgateNode,
  type NodeEvent,
  type NodeStatus,
} from './create-node.js';
export {
  createHostCommands,
  type FsReadResult,
  type HostCommandOptions,
  type Notification,
  type SystemRunResult,
} from './host/index.js';
export { loadOrCreateNodeKey, NodeKey, nodeKeyPath } from './node-key.js';
export { nodeStatePath } from './node-state-file.js';
