/**
 * Nodes: pairing, presence and the invoke broker. The one door of this
 * concern; it knows nothing of tRPC (see `router/nodes-router.ts` for the
 * adapter). In-process callers use `NodeService.invoke` and `NodeService.list`
 * — see the class comment for their contract.
 */

export { MAX_RESULT_DEPTH } from './invocation.js';
export type { InvokeProgress, NodeConnection } from './invoke-broker.js';
export { newChallenge } from './node-keys.js';
export {
  type NodeIdentity,
  type NodeInvokeRequest,
  type NodeProbe,
  type NodeProof,
  NodeService,
  type NodeServiceOptions,
  type NodeSocket,
  type PairingSession,
  type PairingSocket,
} from './node-service.js';
export { QueuedNodeConnection } from './queued-connection.js';
