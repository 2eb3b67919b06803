import type { ClientTarget } from '../connect.js';
import {
  checkConfig,
  checkLock,
  checkLogSize,
  checkNodeKeys,
  checkPort,
  checkTls,
  checkToken,
  checkTunnelRecords,
} from './gateway-checks.js';
import { checkSsh, checkTarget } from './remote-checks.js';
import { checkStateFiles } from './state-files.js';
import type { DoctorCheck } from './types.js';

export type DoctorReport = { ok: boolean; stateDir: string; checks: DoctorCheck[] };

/**
 * Every check in order, each on its own line. The config comes first: the
 * checks after it read it, and a broken one still leaves the state dir, the
 * lock and the remote target worth checking.
 */
export async function runDoctor(options: {
  stateDir: string;
  configPath: string | undefined;
  fix: boolean;
  /** The target client commands use; undefined when the config cannot say. */
  target: () => ClientTarget | undefined;
  /** --url, --ssh or a context named the target: probe it even with no local gateway. */
  explicitTarget: boolean;
}): Promise<DoctorReport> {
  const ctx = { stateDir: options.stateDir, fix: options.fix };
  const checks: DoctorCheck[] = [];
  const config = await checkConfig(options.configPath);
  checks.push(config.check);
  checks.push(...(await checkStateFiles(ctx)));
  const lock = await checkLock(ctx);
  checks.push(lock.check);
  if (config.config) {
    const remote = config.config.gateway.mode === 'remote';
    if (!remote) {
      checks.push(await checkPort(config.config, lock.port));
      checks.push(await checkToken(config.config, options.stateDir));
      checks.push(...(await checkTls(config.config, options.stateDir)));
      checks.push(await checkLogSize(config.config, options.stateDir));
    }
  }
  checks.push(await checkNodeKeys(options.stateDir));
  checks.push(await checkTunnelRecords(ctx));
  const target = options.target();
  if (target) {
    if (target.ssh) checks.push(...(await checkSsh(target.ssh)));
    const remote = config.config?.gateway.mode === 'remote' || options.explicitTarget;
    // A local gateway that is not running is the lock line's news, not a failure to probe.
    if (remote || target.ssh || lock.port !== undefined)
      checks.push(await checkTarget(target, remote ? 'remote gateway' : 'gateway'));
  }
  return { ok: checks.every((c) => c.status !== 'fail'), stateDir: options.stateDir, checks };
}
