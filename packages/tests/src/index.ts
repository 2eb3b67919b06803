export {
  type CliOptions,
  type CliResult,
  INSTALLED_CLI,
  REPO_ROOT,
  runCli,
  sourceNodeArgs,
  spawnCli,
  waitForOutput,
} from './cli-process.js';
export { makeTempDir, mergeConfig, startTestGateway, type TestGateway } from './gateway-harness.js';
export { rejection } from './rejection.js';
export { startTcpProxy, type TcpProxy } from './tcp-proxy.js';
export { waitFor } from './wait.js';
