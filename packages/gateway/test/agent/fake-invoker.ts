import { GatewayError } from '@loopgate/protocol';
import type { NodeToolInfo, ToolInvokeRequest, ToolInvoker } from '../../src/agent/index.js';

export type FakeCommand = (
  params: unknown,
  request: ToolInvokeRequest,
) => unknown | Promise<unknown>;

/**
 * An in-memory node registry for unit tests of providers and the runtime:
 * nodes with command handlers, every invoke recorded. Offline nodes and
 * unknown commands fail with the same codes the real NodeService uses.
 */
export class FakeInvoker implements ToolInvoker {
  readonly calls: ToolInvokeRequest[] = [];
  readonly #nodes: Array<NodeToolInfo & { handlers: Record<string, FakeCommand> }> = [];

  addNode(node: {
    nodeId: string;
    name: string;
    online?: boolean;
    commands: Record<string, FakeCommand>;
    schemas?: Record<string, Record<string, unknown>>;
  }): this {
    this.#nodes.push({
      nodeId: node.nodeId,
      name: node.name,
      online: node.online ?? true,
      commands: Object.keys(node.commands).map((name) => ({
        name,
        ...(node.schemas?.[name] ? { paramsSchema: node.schemas[name] } : {}),
      })),
      handlers: node.commands,
    });
    return this;
  }

  async listNodes(): Promise<NodeToolInfo[]> {
    return this.#nodes.map(({ handlers: _handlers, ...info }) => info);
  }

  async invoke(request: ToolInvokeRequest): Promise<unknown> {
    this.calls.push(request);
    const node = this.#nodes.find((n) => n.nodeId === request.nodeId || n.name === request.nodeId);
    if (!node) throw new GatewayError('NOT_PAIRED', `no paired node "${request.nodeId}"`);
    if (!node.online) throw new GatewayError('NOT_CONNECTED', `node "${node.name}" is offline`);
    const handler = node.handlers[request.command];
    if (!handler)
      throw new GatewayError(
        'COMMAND_NOT_ALLOWED',
        `node "${node.name}" does not offer ${request.command}`,
      );
    return handler(request.params, request);
  }
}
