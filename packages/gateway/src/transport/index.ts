export {
  type AdmissionAccepted,
  type AdmissionDecision,
  type AdmissionPolicy,
  admissionPolicyFrom,
  admitUpgrade,
  type TailscaleIdentity,
} from './admission.js';
export { assertBindAllowed, isLoopbackAddress, resolveBindHosts } from './bind.js';
export { callsSettled } from './calls-settled.js';
export { streamBatch, trackedWithJson, unrolledStream } from './data-frames.js';
export {
  type BoundAddress,
  Listener,
  type ListenerOptions,
  type StoppableConnection,
} from './listener.js';
export { PairingQuota } from './pairing-quota.js';
export { mayHavePrototypeKey, prototypeKeyPath } from './prototype-keys.js';
export {
  RpcConnection,
  type RpcConnectionLimits,
  type RpcConnectionOptions,
  truncateReason,
} from './rpc-connection.js';
export { setMaxPayload } from './ws-internals.js';
