export { inCI } from './ci.js';
export {
  type CliOptions,
  type CliResult,
  collectOutput,
  INSTALLED_CLI,
  killChildren,
  REPO_ROOT,
  runCli,
  sourceNodeArgs,
  spawnCli,
  waitForOutput,
} from './cli-process.js';
export { makeTempDir, mergeConfig, startTestGateway, type TestGateway } from './gateway-harness.js';
export { type LanAddress, obtainLanAddress } from './lan-address.js';
export { killLockHolders } from './lock-holders.js';
export { nodeKeyClient } from './node-clients.js';
export {
  findOpenClaw,
  type OpenClawInstall,
  openClawCacheDir,
  spawnOpenClaw,
} from './openclaw.js';
export { describeWithRealPart, type RealPart, requireRealPart } from './real-parts.js';
export { rejection } from './rejection.js';
export {
  descendantsOf,
  type SshdHandle,
  sshdAvailable,
  sshProcessesMatching,
  startSshd,
} from './sshd.js';
export { startTcpProxy, type TcpProxy } from './tcp-proxy.js';
export { waitFor } from './wait.js';
