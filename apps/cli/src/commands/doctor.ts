import { resolveStateDir } from '@loopgate/protocol';
import type { Command } from 'commander';
import { addClientOptions, type ClientFlags, resolveClientTarget } from '../connect.js';
import { type DoctorCheck, type DoctorReport, runDoctor } from '../doctor/index.js';
import { ExitCode } from '../exit-codes.js';
import { printResult } from '../output.js';

type DoctorFlags = ClientFlags & { fix?: boolean; config?: string };

const MARK = { ok: '[ OK ]', warn: '[WARN]', fail: '[FAIL]' } as const;

/**
 * `loopgate doctor`: config, state dir, lock, port, token, TLS, ssh, the
 * target gateway, node keys, logs — one line each, every problem with the
 * exact fix. `--fix` repairs only what is safe and says what it changed.
 */
export function registerDoctorCommand(program: Command): void {
  addClientOptions(
    program
      .command('doctor')
      .description(
        'check config, state dir, lock, port, token, TLS, ssh and the target gateway; each problem with its fix',
      )
      .option(
        '--fix',
        'repair what is safe: file modes, a stale lock, stale tunnel records (never the config)',
      )
      .option(
        '--config <path>',
        'config file (default: LOOPGATE_CONFIG or <state dir>/config.json5)',
      ),
  ).action(async (flags: DoctorFlags) => {
    const report = await runDoctor({
      stateDir: resolveStateDir(),
      configPath: flags.config,
      fix: flags.fix ?? false,
      explicitTarget: Boolean(flags.url || flags.ssh),
      target: () => {
        try {
          return resolveClientTarget({
            ...flags,
            ...(flags.config ? { configPath: flags.config } : {}),
          });
        } catch {
          // The config line already says what is wrong with it.
          return undefined;
        }
      },
    });
    printResult(report, { json: flags.json, human: renderDoctor });
    process.exitCode = report.ok ? ExitCode.ok : ExitCode.gatewayError;
  });
}

function renderLine(c: DoctorCheck): string {
  const lines = [`${MARK[c.status]} ${c.check}: ${c.detail}`];
  if (c.fixed) lines.push(`       fixed: ${c.fixed}`);
  else if (c.fix && c.status !== 'ok') lines.push(`       fix: ${c.fix}`);
  return lines.join('\n');
}

export function renderDoctor(report: DoctorReport): string {
  const fails = report.checks.filter((c) => c.status === 'fail').length;
  const warns = report.checks.filter((c) => c.status === 'warn').length;
  return [
    `loopgate doctor · state dir ${report.stateDir}`,
    ...report.checks.map(renderLine),
    fails + warns === 0 ? 'all good' : `${fails} problem(s), ${warns} warning(s)`,
  ].join('\n');
}
