/**
 * What the agent needs from the node registry, and nothing more: which nodes
 * and commands exist, and a way to run one. Providers and the runtime depend
 * on this interface, so they are unit-tested with an in-memory invoker and
 * wired to the real `NodeService` by `nodeServiceInvoker`.
 */
export interface ToolInvoker {
  listNodes(): Promise<NodeToolInfo[]>;
  /** Resolves with the node's result; rejects with a `GatewayError` (NOT_CONNECTED, TIMEOUT, COMMAND_FAILED, ...). */
  invoke(request: ToolInvokeRequest): Promise<unknown>;
}

export type NodeCommandInfo = {
  name: string;
  description?: string | undefined;
  /** JSON schema of the command's params, when the node declared one. */
  paramsSchema?: Record<string, unknown> | undefined;
};

export type NodeToolInfo = {
  nodeId: string;
  name: string;
  online: boolean;
  /** Only commands approved at pairing. */
  commands: NodeCommandInfo[];
};

export type ToolInvokeRequest = {
  nodeId: string;
  command: string;
  params: unknown;
  timeoutMs?: number;
  idempotencyKey?: string;
  signal?: AbortSignal;
};
