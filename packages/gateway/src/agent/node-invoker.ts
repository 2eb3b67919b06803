import type { NodeService } from '../nodes/index.js';
import type { ToolInvoker } from './tool-invoker.js';

/**
 * The agent's view of the node registry: paired nodes (pending pairing
 * requests are not tools) with the commands invocable now, and `invoke`
 * returning the node's payload. Errors pass through as the node service's
 * `GatewayError`s (NOT_CONNECTED, TIMEOUT, COMMAND_NOT_ALLOWED, ...).
 */
export function nodeServiceInvoker(nodes: Pick<NodeService, 'list' | 'invoke'>): ToolInvoker {
  return {
    async listNodes() {
      return nodes.list().flatMap((node) =>
        node.state === 'pending'
          ? []
          : [
              {
                nodeId: node.nodeId,
                name: node.name,
                online: node.state === 'online',
                commands: node.commands.map((name) => ({ name })),
              },
            ],
      );
    },
    async invoke(request) {
      const outcome = await nodes.invoke({
        nodeId: request.nodeId,
        command: request.command,
        params: request.params,
        timeoutMs: request.timeoutMs,
        idempotencyKey: request.idempotencyKey,
        signal: request.signal,
      });
      return outcome.payload;
    },
  };
}
