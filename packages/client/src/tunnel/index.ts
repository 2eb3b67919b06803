export {
  classifySshExit,
  type SshExit,
  type TunnelFailure,
  type TunnelFailureKind,
  tunnelFailure,
} from './failure.js';
export {
  gatewayAnswers,
  gatewayTunnelOptions,
  openGatewayTunnel,
  startGatewayTunnel,
} from './gateway-tunnel.js';
export type { TunnelRecord } from './local-port.js';
export { type SshCommandOptions, sshTunnelArgs } from './ssh-command.js';
export {
  describeTunnelState,
  nextTunnelState,
  type RetryPolicy,
  type TunnelEvent,
  type TunnelState,
} from './state.js';
export {
  openTunnel,
  startTunnel,
  type Tunnel,
  type TunnelOptions,
  type TunnelStateListener,
} from './supervisor.js';
