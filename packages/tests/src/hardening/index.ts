export type { AttackSpec } from './attack-child.js';
export { openFileDescriptors } from './file-descriptors.js';
export { FUZZ_PATHS, type FuzzFrame, fuzzBurst, fuzzFrame } from './fuzz-frames.js';
export {
  type GatewayMemorySample,
  type GatewayProcess,
  startGatewayProcess,
} from './gateway-process.js';
export {
  abandonedPairingRequest,
  askToPair,
  bigintMetaInput,
  cpuSecondsOf,
  dagResultInput,
  describeOutcomes,
  guessPasswords,
  type HostileNode,
  holdPairingSockets,
  type LatencyProbe,
  type Outcomes,
  pairHostileNode,
  pairingBigintFlood,
  pairingCrowd,
  percentile,
  probeHealth,
  rssOf,
  runAttackProcess,
} from './hostile-peers.js';
export {
  createOperatorToken,
  nodeParams,
  type OperatorSocket,
  type OperatorSocketOptions,
  openOperatorSocket,
  resultData,
  type TrpcFrame,
} from './operator-socket.js';
export {
  encodeFrame,
  type FrameSpec,
  Opcode,
  openRawWebSocket,
  type RawHandshake,
  type RawWebSocket,
  sendConnectionParams,
} from './raw-ws.js';
export {
  peakInWindow,
  runReconnectStorm,
  type StormOptions,
  type StormResult,
} from './reconnect-storm.js';
export {
  type ScriptServer,
  startFrameRecorder,
  startScriptServer,
  WS_ENTRY,
} from './script-server.js';
export { type SilentNodeGateway, useSilentNodeGateway } from './silent-node.js';
export { mountSmallDisk, requireSmallDisk, type SmallDisk } from './small-disk.js';
export { runSoak, type SoakOptions, type SoakResult } from './soak.js';
export {
  checkStateFile,
  openStateWriter,
  runWriter,
  STATE_FILE_KINDS,
  type StateFileKind,
  type StateWriter,
} from './state-writers.js';
export { postSignedWebhook, type SignedWebhookPost } from './webhook-post.js';
