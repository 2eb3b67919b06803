export { openFileDescriptors } from './file-descriptors.js';
export {
  type GatewayMemorySample,
  type GatewayProcess,
  startGatewayProcess,
} from './gateway-process.js';
export {
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
export { type RecordingProxy, startRecordingProxy } from './tcp-proxy.js';
