import { execFile } from 'node:child_process';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { probeTarget } from '../commands/probe.js';
import type { ClientTarget } from '../connect.js';
import type { DoctorCheck } from './types.js';

const run = promisify(execFile);

/** `ssh` on PATH, a target, and a known_hosts entry for that host on the right port (BatchMode cannot ask). */
export async function checkSsh(ssh: NonNullable<ClientTarget['ssh']>): Promise<DoctorCheck[]> {
  const checks: DoctorCheck[] = [];
  try {
    const { stderr } = await run('ssh', ['-V'], { timeout: 5_000 });
    checks.push({
      check: 'ssh binary',
      status: 'ok',
      detail: stderr.trim().split('\n')[0] ?? 'ssh',
    });
  } catch {
    // ENOENT or a non-zero exit: either way there is no usable ssh, which is the finding.
    return [
      {
        check: 'ssh binary',
        status: 'fail',
        detail: 'no ssh on PATH',
        fix: 'install the OpenSSH client (apt-get install openssh-client)',
      },
    ];
  }
  const host = ssh.target.includes('@')
    ? ssh.target.slice(ssh.target.lastIndexOf('@') + 1)
    : ssh.target;
  const entry = ssh.port && ssh.port !== 22 ? `[${host}]:${ssh.port}` : host;
  checks.push({
    check: 'ssh target',
    status: 'ok',
    detail: `${ssh.target}${ssh.port ? ` port ${ssh.port}` : ''}`,
  });
  const knownHosts = join(homedir(), '.ssh', 'known_hosts');
  try {
    await run('ssh-keygen', ['-F', entry, '-f', knownHosts], { timeout: 5_000 });
    checks.push({
      check: 'known_hosts',
      status: 'ok',
      detail: `${entry} has a host key in ${knownHosts}`,
    });
  } catch (error) {
    // ssh-keygen -F exits 1 when the host is not found; a missing file or binary is a different story.
    const code = (error as { code?: unknown }).code;
    checks.push(
      code === 'ENOENT'
        ? { check: 'known_hosts', status: 'warn', detail: 'no ssh-keygen to look the host key up' }
        : {
            check: 'known_hosts',
            status: 'fail',
            detail: `no host key for ${entry} in ${knownHosts} (the tunnel runs ssh in BatchMode and cannot ask)`,
            fix: `ssh ${ssh.port ? `-p ${ssh.port} ` : ''}${ssh.target} true   (check the key fingerprint it shows, answer yes)`,
          },
    );
  }
  return checks;
}

/** The gateway the client commands would use, through `gateway probe`: one line with its verdict. */
export async function checkTarget(target: ClientTarget, label: string): Promise<DoctorCheck> {
  const report = await probeTarget(target, { stepTimeoutMs: 3_000 });
  const failed = report.steps.find((s) => s.verdict === 'fail');
  if (!failed) {
    const health = report.steps.find((s) => s.step === 'health');
    return {
      check: label,
      status: 'ok',
      detail: `${target.url}: every probe step passed${health ? ` (${health.detail})` : ''}`,
    };
  }
  return {
    check: label,
    status: 'fail',
    detail: `${target.url}: ${failed.step} — ${failed.detail}`,
    fix: `${failed.fix ?? 'see the failed step'}   (details: loopgate gateway probe)`,
  };
}
