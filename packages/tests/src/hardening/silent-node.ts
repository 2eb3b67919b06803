import { afterAll, beforeAll } from 'vitest';
import { type GatewayProcess, startGatewayProcess } from './gateway-process.js';
import { type HostileNode, pairHostileNode } from './hostile-peers.js';
import { type OperatorSocket, openOperatorSocket } from './operator-socket.js';

/** What `useSilentNodeGateway` sets up; its fields are filled in before the block's tests run. */
export type SilentNodeGateway = {
  proc: GatewayProcess;
  /** Paired for real as `silent-node`; it never answers an invocation. */
  node: HostileNode;
  /** One raw operator socket with the gateway's token. */
  operator: OperatorSocket;
};

/**
 * For a `describe` block: a real gateway process, a node paired as
 * `silent-node` that never answers, and an operator socket, made before the
 * block's tests and closed after them. The setting for attacks that pile up
 * work waiting on a node.
 */
export function useSilentNodeGateway(
  options: Parameters<typeof startGatewayProcess>[0] = {},
): SilentNodeGateway {
  const setup = {} as SilentNodeGateway;
  beforeAll(async () => {
    setup.proc = await startGatewayProcess(options);
    setup.node = await pairHostileNode(setup.proc.url, setup.proc.token, 'silent-node');
    setup.operator = await openOperatorSocket(setup.proc.url, setup.proc.token);
  });
  afterAll(async () => {
    setup.operator?.ws.close();
    setup.node?.close();
    await setup.proc?.stop();
  });
  return setup;
}
