import {
  GATEWAY_PROCEDURES,
  type GatewayError,
  IDENTITY_HEADERS,
  isGatewayError,
  LOOPGATE_VERSION,
  procedureSetHash,
} from '@loopgate/protocol';
import { createGatewayClient, type GatewayClient } from '../client.js';
import { toGatewayError } from '../errors.js';
import { assertTransportAllowed, parseGatewayUrl } from '../tls/index.js';
import { startTunnel, type Tunnel } from '../tunnel/index.js';
import { resolveStep, tcpStep, tlsStep, type UpgradeAnswer, upgradeStep } from './network-steps.js';
import type { ProbeOptions, ProbeReport, ProbeStep } from './types.js';

const DEFAULT_STEP_TIMEOUT_MS = 5_000;

/**
 * Walks the path a client command takes to the gateway, one verdict per
 * step: (ssh → forward) or (resolve → tcp) → tls → upgrade → version → auth
 * → health. A step that fails stops the walk unless what follows can still
 * be learned (a version skew still tries auth and health). Never throws for
 * a network outcome: every outcome is a step.
 */
export async function probeGateway(options: ProbeOptions): Promise<ProbeReport> {
  const timeoutMs = options.stepTimeoutMs ?? DEFAULT_STEP_TIMEOUT_MS;
  const steps: ProbeStep[] = [];
  const report: ProbeReport = {
    url: options.url,
    via: options.ssh ? 'ssh' : 'direct',
    ok: false,
    steps,
  };
  let tunnel: Tunnel | undefined;
  try {
    let url = options.url;
    if (options.ssh) {
      const up = await sshStep(options.ssh, timeoutMs);
      steps.push(up.step);
      if (!up.tunnel) return finish(report);
      tunnel = up.tunnel;
      url = tunnel.url;
      report.url = url;
    }
    const answer = await transportSteps(url, options, steps, report, timeoutMs, !!tunnel);
    if (!answer) return finish(report);
    steps.push(versionStep(answer));
    report.gateway = {
      version: answer.headers[IDENTITY_HEADERS.version] ?? '?',
      procedures: answer.headers[IDENTITY_HEADERS.procedures] ?? '?',
    };
    if (steps.some((s) => s.diagnosis === 'tls-untrusted')) {
      const detail = 'a client would refuse this certificate: pin it first';
      steps.push({ step: 'auth', verdict: 'skip', ms: 0, detail });
      steps.push({ step: 'health', verdict: 'skip', ms: 0, detail });
      return finish(report);
    }
    await callSteps(url, options, steps, timeoutMs);
    return finish(report);
  } finally {
    await tunnel?.close();
  }
}

function finish(report: ProbeReport): ProbeReport {
  const failed = report.steps.find((s) => s.verdict === 'fail');
  report.ok = failed === undefined;
  if (failed?.diagnosis) report.diagnosis = failed.diagnosis;
  return report;
}

const elapsedSince = (start: number) => Math.round((performance.now() - start) * 10) / 10;

async function sshStep(
  ssh: NonNullable<ProbeOptions['ssh']>,
  timeoutMs: number,
): Promise<{ step: ProbeStep; tunnel?: Tunnel }> {
  const start = performance.now();
  // No readiness check: this step is "ssh up and the local end listening"; the steps after it test the far end.
  const tunnel = startTunnel({
    ...ssh,
    remotePort: ssh.remotePort ?? 18789,
    maxRetries: 0,
    readyTimeoutMs: Math.max(timeoutMs, 10_000),
    allowPortFallback: true,
  });
  try {
    await tunnel.ready();
    return {
      step: {
        step: 'ssh',
        verdict: 'ok',
        ms: elapsedSince(start),
        detail: `ssh ${ssh.target} up, forwarding 127.0.0.1:${tunnel.localPort} → remote port ${ssh.remotePort ?? 18789}`,
      },
      tunnel,
    };
  } catch (error) {
    await tunnel.close();
    const state = tunnel.state;
    const reason = state.status === 'failed' ? state.reason.message : toGatewayError(error).message;
    return {
      step: {
        step: 'ssh',
        verdict: 'fail',
        ms: elapsedSince(start),
        detail: `ssh ${ssh.target}: ${reason}`,
        diagnosis: 'tunnel-failed',
        fix: `run "ssh ${ssh.port ? `-p ${ssh.port} ` : ''}${ssh.target} true" to see ssh's own message, then loopgate doctor`,
      },
    };
  }
}

/** resolve → tcp (or forward) → tls → upgrade; returns the upgrade answer when the gateway accepted it. */
async function transportSteps(
  url: string,
  options: ProbeOptions,
  steps: ProbeStep[],
  report: ProbeReport,
  timeoutMs: number,
  viaTunnel: boolean,
): Promise<UpgradeAnswer | undefined> {
  const parsed = parseGatewayUrl(url);
  const host = parsed.hostname.replace(/^\[|\]$/g, '');
  const secure = parsed.protocol === 'wss:';
  const port = Number(parsed.port || (secure ? 443 : 80));
  if (!viaTunnel) {
    const resolved = await resolveStep(host);
    steps.push(resolved.step);
    if (!resolved.value) return undefined;
  }
  const tcp = await tcpStep(host, port, timeoutMs, { tunnel: viaTunnel });
  steps.push(tcp.step);
  if (!tcp.value) return undefined;
  let socket = tcp.value;
  if (secure) {
    const tls = await tlsStep(socket, { host, port }, options.tlsFingerprint, timeoutMs);
    steps.push(tls.step);
    if (!tls.value) return undefined;
    report.certificate = tls.value.certificate;
    socket = tls.value.socket;
  } else {
    const plain = plaintextStep(url, options);
    steps.push(plain);
    if (plain.verdict === 'fail') {
      socket.destroy();
      return undefined;
    }
  }
  const upgrade = await upgradeStep(socket, { host, port }, timeoutMs, { tunnel: viaTunnel });
  steps.push(upgrade.step);
  return upgrade.step.verdict === 'ok' ? upgrade.value : undefined;
}

function plaintextStep(url: string, options: ProbeOptions): ProbeStep {
  try {
    assertTransportAllowed(url, { insecurePlaintext: options.insecurePlaintext ?? false });
  } catch (error) {
    return {
      step: 'tls',
      verdict: 'fail',
      ms: 0,
      detail: toGatewayError(error).message,
      diagnosis: 'plaintext-refused',
      fix: 'use wss:// (gateway.tls.enabled), --ssh user@host, or --insecure-plaintext',
    };
  }
  const pinned = options.tlsFingerprint !== undefined && options.tlsFingerprint.length > 0;
  return {
    step: 'tls',
    verdict: pinned ? 'warn' : 'skip',
    ms: 0,
    detail: pinned ? 'plain ws:// — the configured TLS pin is not checked' : 'plain ws:// (no TLS)',
    ...(pinned ? { fix: 'use the wss:// URL so the pin protects the connection' } : {}),
  };
}

function versionStep(answer: UpgradeAnswer): ProbeStep {
  const version = answer.headers[IDENTITY_HEADERS.version] ?? '?';
  const procedures = answer.headers[IDENTITY_HEADERS.procedures] ?? '?';
  const ours = procedureSetHash(GATEWAY_PROCEDURES);
  if (version === LOOPGATE_VERSION && procedures === ours) {
    return {
      step: 'version',
      verdict: 'ok',
      ms: 0,
      detail: `gateway ${version} · procedures ${procedures} (same as this client)`,
    };
  }
  return {
    step: 'version',
    verdict: 'fail',
    ms: 0,
    detail: `version skew: gateway ${version} procedures ${procedures}, this client ${LOOPGATE_VERSION} procedures ${ours}`,
    diagnosis: 'version-skew',
    fix: 'upgrade the older side so both run the same release; calls to procedures one side lacks fail with NOT_FOUND',
  };
}

/** auth (whoami when the gateway has it, else health) → a timed health round trip. */
async function callSteps(
  url: string,
  options: ProbeOptions,
  steps: ProbeStep[],
  timeoutMs: number,
): Promise<void> {
  const client = createGatewayClient({
    url,
    ...(options.token ? { token: options.token } : {}),
    ...(options.password ? { password: options.password } : {}),
    ...(options.tlsFingerprint ? { tlsFingerprint: options.tlsFingerprint } : {}),
    insecurePlaintext: options.insecurePlaintext ?? false,
    retry: false,
    clientName: 'loopgate-probe',
    handshakeTimeoutMs: timeoutMs,
  });
  try {
    const auth = await authStep(client, options, timeoutMs);
    steps.push(auth);
    if (auth.verdict === 'fail') {
      steps.push({ step: 'health', verdict: 'skip', ms: 0, detail: 'not authenticated' });
      return;
    }
    const start = performance.now();
    try {
      const health = await client.health.query(undefined, {
        signal: AbortSignal.timeout(timeoutMs),
      });
      steps.push({
        step: 'health',
        verdict: health.ok ? 'ok' : 'warn',
        ms: elapsedSince(start),
        detail: `${health.ok ? 'ok' : 'NOT OK'} · up ${Math.round(health.uptimeMs / 1000)} s · event-loop p99 ${health.eventLoopDelayMs} ms · ${health.connections.total} connection(s)`,
      });
    } catch (error) {
      const e = toGatewayError(error);
      steps.push({
        step: 'health',
        verdict: 'fail',
        ms: elapsedSince(start),
        detail: `${e.code}: ${e.message}`,
        diagnosis: 'gateway-error',
        fix: 'see the gateway log: loopgate logs --level warn',
      });
    }
  } finally {
    await client.close();
  }
}

async function authStep(
  client: GatewayClient,
  options: ProbeOptions,
  timeoutMs: number,
): Promise<ProbeStep> {
  const source =
    options.credentialSource ?? (options.token ? 'token' : options.password ? 'password' : 'none');
  const start = performance.now();
  const signal = AbortSignal.timeout(timeoutMs);
  try {
    // `whoami` names the scope; a gateway from before it existed proves the credential with `health`.
    const who = await client.whoami.query(undefined, { signal }).catch(async (error: unknown) => {
      if (!isGatewayError(toGatewayError(error), 'NOT_FOUND')) throw error;
      await client.health.query(undefined, { signal });
      return undefined;
    });
    const scope = who ? `${who.principal} (${who.credential})` : 'operator';
    return {
      step: 'auth',
      verdict: 'ok',
      ms: elapsedSince(start),
      detail: `accepted: ${source} · scope ${scope}`,
    };
  } catch (error) {
    return authFailure(toGatewayError(error), source, elapsedSince(start));
  }
}

function authFailure(error: GatewayError, source: string, ms: number): ProbeStep {
  if (error.code === 'RATE_LIMITED') {
    const retry = error.details?.retryAfterMs;
    return {
      step: 'auth',
      verdict: 'fail',
      ms,
      detail: `locked out: ${error.message}`,
      diagnosis: 'locked-out',
      fix: `too many failed logins from this address: fix the credential, then wait${typeof retry === 'number' ? ` ${Math.ceil(retry / 1000)} s` : ''} (or restart the gateway to clear the lockout)`,
    };
  }
  if (error.code === 'UNAUTHORIZED' || error.code === 'FORBIDDEN') {
    return {
      step: 'auth',
      verdict: 'fail',
      ms,
      detail: `credential refused (${source}): ${error.message}`,
      diagnosis: 'credential-refused',
      fix:
        source === 'none'
          ? 'no credential found: pass --token, set LOOPGATE_GATEWAY_TOKEN, or gateway.remote.token / a context tokenFile'
          : `the ${source} is not this gateway's: copy it from the gateway host (~/.loopgate/gateway-token, or the configured token)`,
    };
  }
  return {
    step: 'auth',
    verdict: 'fail',
    ms,
    detail: `${error.code}: ${error.message}`,
    diagnosis: error.code === 'TLS_PIN_MISMATCH' ? 'tls-pin-mismatch' : 'gateway-error',
    fix: 'see the gateway log: loopgate logs --level warn',
  };
}
