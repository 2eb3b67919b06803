import { createGatewayClient, type GatewayClient } from '@loopgate/client';
import { NodeKey } from '@loopgate/node';

/**
 * A one-shot client that proves `key` on connect, as a node does: a paired
 * node when `nodeId` is given, else one that may only ask to pair. A fresh
 * key when none is given.
 */
export function nodeKeyClient(
  url: string,
  key: NodeKey = NodeKey.generate(),
  nodeId?: string,
): GatewayClient {
  return createGatewayClient({
    url,
    role: 'node',
    retry: false,
    proveChallenge: (challenge) => key.prove(challenge, nodeId),
  });
}
