import { createInterface } from 'node:readline/promises';
import {
  CANNOT_CONNECT,
  type CertificateProbe,
  type ProbeReport,
  type ProbeStep,
  parseFingerprints,
  parseGatewayUrl,
  probeGateway,
  savePinnedFingerprint,
} from '@loopgate/client';
import type { Command } from 'commander';
import {
  addClientOptions,
  type ClientFlags,
  type ClientTarget,
  resolveClientTarget,
} from '../connect.js';
import { beforeConnecting, ExitCode, UsageError } from '../exit-codes.js';
import { note, printResult } from '../output.js';

type ProbeFlags = ClientFlags & {
  pin?: boolean;
  yes?: boolean;
  config?: string;
  timeout?: string;
};

/**
 * `loopgate gateway probe`: walks the path any client command would take to
 * the gateway and prints one verdict per step, so "is my gateway up?" has
 * one answer naming what is wrong and what to run next.
 */
export function registerProbeCommand(gateway: Command): void {
  addClientOptions(
    gateway
      .command('probe')
      .description(
        'check every step to the gateway a client command would use: resolve, TCP, TLS and pin, upgrade, version, auth, health',
      )
      .option('--timeout <ms>', 'how long each network step may stay silent', '5000')
      .option(
        '--pin',
        'store the presented certificate fingerprint as gateway.remote.tlsFingerprint (asks for confirmation)',
      )
      .option(
        '--yes',
        'confirm --pin without asking (only after checking the fingerprint out of band)',
      )
      .option(
        '--config <path>',
        'config file for --pin (default: LOOPGATE_CONFIG or ~/.loopgate/config.json5)',
      ),
  ).action(async (flags: ProbeFlags) => {
    const stepTimeoutMs = Number(flags.timeout);
    if (!Number.isInteger(stepTimeoutMs) || stepTimeoutMs <= 0)
      throw new UsageError(
        `--timeout: expected milliseconds > 0, got ${JSON.stringify(flags.timeout)}`,
      );
    const target = resolveClientTarget(flags);
    beforeConnecting(() => {
      parseGatewayUrl(target.url);
      if (target.tlsFingerprint) parseFingerprints(target.tlsFingerprint);
    });
    const report = await probeTarget(target, {
      insecurePlaintext: flags.insecurePlaintext,
      stepTimeoutMs,
    });
    printResult(report, { json: flags.json, human: renderProbeReport });
    process.exitCode = probeExitCode(report);
    if (flags.pin) {
      await pinPresented(report, target.url, flags);
      // Pinning was the fix for an untrusted certificate: that failure is resolved now.
      if (report.steps.every((s) => s.verdict !== 'fail' || s.diagnosis === 'tls-untrusted'))
        process.exitCode = ExitCode.ok;
    } else if (report.diagnosis === 'tls-untrusted' && report.certificate && !flags.json)
      note(
        `to pin it, first compare it with "loopgate gateway tls fingerprint" on the gateway host, then pass --tls-fingerprint ${report.certificate.fingerprint} or run this again with --pin`,
      );
  });
}

/** Probes exactly what a client command would use for `target` (doctor runs it too). */
export function probeTarget(
  target: ClientTarget,
  options: { insecurePlaintext?: boolean | undefined; stepTimeoutMs: number },
): Promise<ProbeReport> {
  return probeGateway({
    url: target.url,
    token: target.token,
    password: target.password,
    credentialSource: target.credentialSource,
    tlsFingerprint: target.tlsFingerprint,
    ssh: target.ssh,
    ...options,
  });
}

/** 0 all good (warnings allowed), 3 the gateway could not be reached as a gateway, 1 it answered but something is wrong. */
export function probeExitCode(report: ProbeReport): number {
  if (report.ok) return ExitCode.ok;
  return report.diagnosis && CANNOT_CONNECT.has(report.diagnosis)
    ? ExitCode.cannotConnect
    : ExitCode.gatewayError;
}

const MARK = { ok: '[ OK ]', warn: '[WARN]', fail: '[FAIL]', skip: '[SKIP]' } as const;

function renderStep(step: ProbeStep): string {
  const ms = `${step.ms.toFixed(1)} ms`.padStart(9);
  const line = `${MARK[step.verdict]} ${step.step.padEnd(8)}${ms}  ${step.detail}`;
  return step.fix && step.verdict !== 'ok' ? `${line}\n${' '.repeat(25)}fix: ${step.fix}` : line;
}

export function renderProbeReport(report: ProbeReport): string {
  const lines = [`probe ${report.url}${report.via === 'ssh' ? ' (through ssh)' : ''}`];
  lines.push(...report.steps.map(renderStep));
  if (report.certificate) lines.push(renderCertificate(report.certificate));
  lines.push(
    report.ok ? 'verdict: ok' : `verdict: FAIL — ${report.diagnosis ?? 'see the failed step'}`,
  );
  return lines.join('\n');
}

function renderCertificate(p: CertificateProbe): string {
  return [
    `${p.host}:${p.port} presents:`,
    `  sha256 fingerprint: ${p.fingerprint}`,
    `  subject: ${p.subject.replaceAll('\n', ', ')}`,
    `  issuer: ${p.issuer.replaceAll('\n', ', ')}`,
    `  names: ${p.subjectAltName ?? '(none)'}`,
    `  valid: ${p.validFrom} → ${p.validTo}`,
    `  trusted by the system CAs: ${p.trustedBySystem ? 'yes' : `no${p.untrustedReason ? ` (${p.untrustedReason})` : ''}`}`,
  ].join('\n');
}

async function pinPresented(report: ProbeReport, url: string, flags: ProbeFlags): Promise<void> {
  const fingerprint = report.certificate?.fingerprint;
  if (!fingerprint)
    throw new UsageError(
      '--pin needs a wss:// target that completed a TLS handshake; nothing to pin',
    );
  if (
    !flags.yes &&
    !(await confirm(
      `Pin ${fingerprint} for ${url}? It must match "loopgate gateway tls fingerprint" on the gateway host. [y/N] `,
    ))
  ) {
    throw new UsageError(
      process.stdin.isTTY
        ? 'not pinned'
        : '--pin needs confirmation: run it interactively, or add --yes after checking the fingerprint',
    );
  }
  const { defaultConfigPath } = await import('@loopgate/gateway');
  const configPath = flags.config ?? defaultConfigPath();
  const { previous } = await savePinnedFingerprint({ configPath, url, fingerprint });
  note(
    `pinned ${fingerprint} as gateway.remote.tlsFingerprint in ${configPath}${previous ? ` (replacing ${[previous].flat().join(', ')})` : ''}`,
  );
}

async function confirm(question: string): Promise<boolean> {
  if (!process.stdin.isTTY) return false;
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(question)).trim());
  } finally {
    rl.close();
  }
}
