export {
  type CliResult,
  REPO_ROOT,
  runCli,
  sourceNodeArgs,
  spawnCli,
  waitForOutput,
} from './cli-process.js';
export { makeTempDir, mergeConfig, startTestGateway, type TestGateway } from './gateway-harness.js';
export { rejection } from './rejection.js';
export { waitFor } from './wait.js';
