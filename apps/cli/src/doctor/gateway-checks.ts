import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readdir, readFile, rm, stat } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import type { LoopgateConfig } from '@loopgate/protocol';
import type { DoctorCheck, DoctorContext } from './types.js';

/** A log past this size deserves a rotation (nothing rotates it for you). */
const LOG_WARN_BYTES = 100 * 1024 * 1024;
const CERT_WARN_DAYS = 30;

export type ConfigOutcome = {
  check: DoctorCheck;
  config: LoopgateConfig | undefined;
  path: string | undefined;
};

/** The config parses and validates, with the key path of each problem. */
export async function checkConfig(configPath: string | undefined): Promise<ConfigOutcome> {
  const { loadConfig } = await import('@loopgate/gateway');
  try {
    const loaded = await loadConfig(configPath ? { configPath } : {});
    return {
      config: loaded.config,
      path: loaded.path,
      check: {
        check: 'config',
        status: 'ok',
        detail: loaded.path
          ? `${loaded.path} parses and validates`
          : 'no config file: embedded defaults',
      },
    };
  } catch (error) {
    const e = error as Error & { source?: string; lines?: string[] };
    if (e.name !== 'ConfigError') throw error;
    return {
      config: undefined,
      path: e.source,
      check: {
        check: 'config',
        status: 'fail',
        detail: `${e.source}: ${(e.lines ?? [e.message]).join('; ')}`,
        fix: `edit ${e.source} and fix the key(s) named (doctor --fix never rewrites the config)`,
      },
    };
  }
}

/** Who holds the state-dir lock: the running gateway (pid, port), nobody, or a stale lock --fix removes. */
export async function checkLock(
  ctx: DoctorContext,
): Promise<{ check: DoctorCheck; port: number | undefined }> {
  const { readStateLock } = await import('@loopgate/gateway');
  const status = await readStateLock(ctx.stateDir);
  switch (status.state) {
    case 'free':
      return {
        port: undefined,
        check: { check: 'gateway lock', status: 'ok', detail: 'no gateway runs on this state dir' },
      };
    case 'held': {
      const h = status.holder;
      return {
        port: h.port,
        check: {
          check: 'gateway lock',
          status: 'ok',
          detail: `gateway pid ${h.pid}${h.port === undefined ? ' (not listening yet)' : ` on port ${h.port}`}, loopgate ${h.version}`,
        },
      };
    }
    case 'unreadable':
      return {
        port: undefined,
        check: {
          check: 'gateway lock',
          status: 'fail',
          detail: `${status.path}: ${status.reason}`,
          fix: `if no gateway runs here, remove it: rm ${status.path}`,
        },
      };
    case 'stale': {
      const line: DoctorCheck = {
        check: 'gateway lock',
        status: 'warn',
        detail: `stale lock of pid ${status.holder.pid} (${status.reason})`,
        fix: 'loopgate doctor --fix removes it (the next gateway start also takes it over)',
      };
      if (ctx.fix) {
        // Look again right before removing: a gateway may have started and taken it over meanwhile.
        const again = await readStateLock(ctx.stateDir);
        if (again.state === 'stale' && again.holder.id === status.holder.id) {
          await rm(status.path, { force: true });
          line.status = 'ok';
          line.fixed = `removed the stale lock ${status.path}`;
        }
      }
      return { port: undefined, check: line };
    }
  }
}

/** The configured port is free, or held by our own gateway (the lock says which port it bound). */
export async function checkPort(
  config: LoopgateConfig,
  lockPort: number | undefined,
): Promise<DoctorCheck> {
  const port = config.gateway.port;
  if (port === 0)
    return {
      check: 'port',
      status: 'ok',
      detail: 'gateway.port 0: a free port is picked at start',
    };
  if (lockPort === port)
    return { check: 'port', status: 'ok', detail: `${port} held by our gateway` };
  const host =
    config.gateway.bind === 'custom' && config.gateway.customBindHost
      ? config.gateway.customBindHost
      : '127.0.0.1';
  const free = await new Promise<boolean | string>((resolve) => {
    const server = createServer();
    server.once('error', (error: NodeJS.ErrnoException) =>
      resolve(error.code === 'EADDRINUSE' ? false : (error.code ?? 'error')),
    );
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(true)));
  });
  if (free === true) return { check: 'port', status: 'ok', detail: `${host}:${port} is free` };
  if (free === false)
    return {
      check: 'port',
      status: 'fail',
      detail: `${host}:${port} is held by another program (not this state dir's gateway)`,
      fix: `find it with: ss -ltnp 'sport = :${port}'; stop it, or set another gateway.port (or use --profile)`,
    };
  return { check: 'port', status: 'warn', detail: `cannot test ${host}:${port} (${free})` };
}

/** The operator token: configured, or the generated file (0600, long enough). */
export async function checkToken(config: LoopgateConfig, stateDir: string): Promise<DoctorCheck> {
  const auth = config.gateway.auth;
  if (auth.token || process.env.LOOPGATE_GATEWAY_TOKEN)
    return {
      check: 'token',
      status: 'ok',
      detail: `configured (${auth.token ? 'gateway.auth.token' : 'LOOPGATE_GATEWAY_TOKEN'})`,
    };
  if (auth.mode === 'password' || auth.password)
    return { check: 'token', status: 'ok', detail: 'password auth configured' };
  const path = join(stateDir, 'gateway-token');
  let text: string;
  try {
    text = (await readFile(path, 'utf8')).trim();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT')
      return {
        check: 'token',
        status: 'ok',
        detail: 'no token file yet: the first gateway start generates one',
      };
    return {
      check: 'token',
      status: 'fail',
      detail: `cannot read ${path} (${code})`,
      fix: `check its owner and mode: ls -l ${path}`,
    };
  }
  if (text.length < 16)
    return {
      check: 'token',
      status: 'fail',
      detail: `${path} holds ${text.length} characters, fewer than 16`,
      fix: `loopgate gateway auth rotate-token (or delete ${path} and restart the gateway)`,
    };
  return { check: 'token', status: 'ok', detail: `${path} (generated, ${text.length} characters)` };
}

/** The TLS certificate and key: readable, not expired (or about to), and naming the address clients dial. */
export async function checkTls(config: LoopgateConfig, stateDir: string): Promise<DoctorCheck[]> {
  const tls = config.gateway.tls;
  if (!tls.enabled) return [];
  const certPath = tls.certPath ?? join(stateDir, 'tls', 'gateway-cert.pem');
  const keyPath = tls.keyPath ?? join(stateDir, 'tls', 'gateway-key.pem');
  const generated = !tls.certPath;
  let certText: string;
  try {
    certText = await readFile(certPath, 'utf8');
    await readFile(keyPath);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && generated)
      return [
        {
          check: 'tls',
          status: 'ok',
          detail: 'no certificate yet: the first gateway start generates a self-signed one',
        },
      ];
    return [
      {
        check: 'tls',
        status: 'fail',
        detail: `cannot read ${code === 'ENOENT' ? 'a missing file' : code}: ${certPath} / ${keyPath}`,
        fix: 'check gateway.tls.certPath and keyPath, and that this user can read both',
      },
    ];
  }
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certText);
  } catch {
    // Any parse failure means the same to the operator: the file is not a certificate.
    return [
      {
        check: 'tls',
        status: 'fail',
        detail: `${certPath} is not a PEM certificate`,
        fix: 'point gateway.tls.certPath at the certificate (PEM)',
      },
    ];
  }
  const checks: DoctorCheck[] = [];
  const daysLeft = Math.floor((Date.parse(cert.validTo) - Date.now()) / 86_400_000);
  checks.push(
    daysLeft < 0
      ? {
          check: 'tls expiry',
          status: 'fail',
          detail: `expired on ${cert.validTo}`,
          fix: generated
            ? `delete ${certPath} and ${keyPath}, restart the gateway, re-pin clients`
            : 'renew the certificate at gateway.tls.certPath',
        }
      : daysLeft < CERT_WARN_DAYS
        ? {
            check: 'tls expiry',
            status: 'warn',
            detail: `expires in ${daysLeft} days (${cert.validTo})`,
            fix: 'renew it before then; pinned clients need the new fingerprint',
          }
        : {
            check: 'tls expiry',
            status: 'ok',
            detail: `valid until ${cert.validTo} (${daysLeft} days)`,
          },
  );
  const host =
    config.gateway.bind === 'custom'
      ? (config.gateway.customBindHost ?? '127.0.0.1')
      : config.gateway.bind === 'loopback'
        ? '127.0.0.1'
        : undefined;
  if (host && !['0.0.0.0', '::'].includes(host)) {
    const named =
      host.includes(':') || /^[\d.]+$/.test(host) ? cert.checkIP(host) : cert.checkHost(host);
    checks.push(
      named
        ? {
            check: 'tls names',
            status: 'ok',
            detail: `the certificate names ${host} (${cert.subjectAltName ?? ''})`,
          }
        : {
            check: 'tls names',
            status: 'warn',
            detail: `the certificate does not name ${host} (${cert.subjectAltName ?? 'no SANs'})`,
            fix: 'clients must pin it (--tls-fingerprint); or issue one whose SANs include the bind address',
          },
    );
  }
  return checks;
}

/** The gateway log's size: nothing rotates it, so a big one is worth a line. */
export async function checkLogSize(config: LoopgateConfig, stateDir: string): Promise<DoctorCheck> {
  const path = config.logging.file ?? join(stateDir, 'logs', 'gateway.log');
  try {
    const { size } = await stat(path);
    const mib = (size / 1024 / 1024).toFixed(1);
    return size > LOG_WARN_BYTES
      ? {
          check: 'log size',
          status: 'warn',
          detail: `${path} is ${mib} MiB`,
          fix: `rotate it: mv ${path} ${path}.1 and restart the gateway (or truncate -s 0 ${path})`,
        }
      : { check: 'log size', status: 'ok', detail: `${path} ${mib} MiB` };
  } catch {
    // A log that cannot be stat'ed has no size to warn about; the state-dir checks cover modes.
    return { check: 'log size', status: 'ok', detail: 'no log file yet' };
  }
}

/**
 * Node identities on this host: each `node-<name>.json` parses, and its key
 * `node-<name>.key` is a private key only its owner can read. A state file
 * of an earlier version (a node token) is named: that node must be re-paired.
 */
export async function checkNodeKeys(stateDir: string): Promise<DoctorCheck> {
  const names = (await readdir(stateDir).catch(() => [] as string[])).filter((n) =>
    /^node-.+\.json$/.test(n),
  );
  if (names.length === 0)
    return { check: 'node keys', status: 'ok', detail: 'no node identities on this host' };
  const broken: string[] = [];
  const tokenEra: string[] = [];
  let paired = 0;
  for (const name of names) {
    const keyFile = name.replace(/\.json$/, '.key');
    try {
      const parsed = JSON.parse(await readFile(join(stateDir, name), 'utf8')) as {
        version?: unknown;
        nodeId?: unknown;
      };
      if (parsed.version === 1) {
        tokenEra.push(name);
        continue;
      }
      const key = join(stateDir, keyFile);
      createPrivateKey(await readFile(key, 'utf8'));
      if (((await stat(key)).mode & 0o077) !== 0) broken.push(`${keyFile} (readable by others)`);
      else if (typeof parsed.nodeId === 'string') paired++;
    } catch {
      // unreadable JSON, a missing or malformed key: the node cannot prove itself
      broken.push(name);
    }
  }
  if (broken.length > 0)
    return {
      check: 'node keys',
      status: 'fail',
      detail: `unusable node identity: ${broken.join(', ')}`,
      fix: `chmod 600 the key if it is only readable by others; otherwise remove the node's files and pair it again (loopgate node run --name …): rm ${join(stateDir, broken[0]?.split(' ')[0] ?? '')}`,
    };
  if (tokenEra.length > 0)
    return {
      check: 'node keys',
      status: 'warn',
      detail: `paired with a token by an earlier version: ${tokenEra.join(', ')}`,
      fix: 'loopgate nodes remove <name> on the gateway, then restart the node and approve its pairing code (docs/nodes.md)',
    };
  return {
    check: 'node keys',
    status: 'ok',
    detail: `${names.length} node identit${names.length === 1 ? 'y' : 'ies'}, ${paired} paired`,
  };
}

/** Tunnel records whose ssh is gone: harmless, but --fix clears them. */
export async function checkTunnelRecords(ctx: DoctorContext): Promise<DoctorCheck> {
  const dir = join(ctx.stateDir, 'tunnels');
  const names = (await readdir(dir).catch(() => [] as string[])).filter((n) =>
    /^tunnel-\d+\.json$/.test(n),
  );
  const stale: string[] = [];
  for (const name of names) {
    try {
      const record = JSON.parse(await readFile(join(dir, name), 'utf8')) as { pid?: unknown };
      if (typeof record.pid !== 'number' || !processRuns(record.pid)) stale.push(name);
    } catch {
      // A record that does not parse cannot name a live tunnel: it is stale, and --fix removes it.
      stale.push(name);
    }
  }
  if (stale.length === 0)
    return { check: 'tunnel records', status: 'ok', detail: `${names.length} live` };
  const line: DoctorCheck = {
    check: 'tunnel records',
    status: 'warn',
    detail: `${stale.length} stale (their ssh is gone): ${stale.join(', ')}`,
    fix: 'loopgate doctor --fix removes them',
  };
  if (ctx.fix) {
    for (const name of stale) await rm(join(dir, name), { force: true });
    line.status = 'ok';
    line.fixed = `removed ${stale.length} stale tunnel record(s)`;
  }
  return line;
}

function processRuns(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
