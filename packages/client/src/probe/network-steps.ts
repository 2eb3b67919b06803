import { randomBytes } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import { isIP, type Socket, connect as tcpConnect } from 'node:net';
import { type TLSSocket, connect as tlsConnect } from 'node:tls';
import { IDENTITY_HEADERS } from '@loopgate/protocol';
import type { CertificateProbe } from '../tls/index.js';
import { parseFingerprints } from '../tls/index.js';
import type { ProbeStep } from './types.js';

/**
 * The steps below the WebSocket: each takes what the previous one produced
 * (an address, a socket) and returns one verdict. They send no credential:
 * the upgrade request is a bare WebSocket handshake.
 */

export type StepResult<T> = { step: ProbeStep; value?: T };

const timed = () => {
  const start = performance.now();
  return () => Math.round((performance.now() - start) * 10) / 10;
};

export async function resolveStep(host: string): Promise<StepResult<string>> {
  const elapsed = timed();
  if (isIP(host)) {
    return {
      step: { step: 'resolve', verdict: 'ok', ms: 0, detail: `${host} (literal address)` },
      value: host,
    };
  }
  try {
    const found = await lookup(host, { all: true });
    const first = found[0]?.address ?? host;
    return {
      step: {
        step: 'resolve',
        verdict: 'ok',
        ms: elapsed(),
        detail: `${host} → ${found.map((a) => a.address).join(', ')}`,
      },
      value: first,
    };
  } catch (error) {
    return {
      step: {
        step: 'resolve',
        verdict: 'fail',
        ms: elapsed(),
        detail: `cannot resolve ${host}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
        diagnosis: 'dns-failed',
        fix: `check the host name in the gateway URL (or /etc/hosts); try its IP address with --url`,
      },
    };
  }
}

export function tcpStep(
  address: string,
  port: number,
  timeoutMs: number,
  where: { tunnel: boolean },
): Promise<StepResult<Socket>> {
  const elapsed = timed();
  const name = where.tunnel ? 'forward' : 'tcp';
  const shown = `${address.includes(':') ? `[${address}]` : address}:${port}`;
  return new Promise((resolve) => {
    const socket = tcpConnect({ host: address, port });
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({
        step: {
          step: name,
          verdict: 'fail',
          ms: elapsed(),
          detail: `no answer to a TCP connect to ${shown} within ${timeoutMs} ms`,
          diagnosis: 'unreachable',
          fix: 'a firewall or routing drops the packets: check the host is up and the port is open to you',
        },
      });
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      resolve({
        step: { step: name, verdict: 'ok', ms: elapsed(), detail: `connected to ${shown}` },
        value: socket,
      });
    });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      const refused = error.code === 'ECONNREFUSED';
      resolve({
        step: {
          step: name,
          verdict: 'fail',
          ms: elapsed(),
          detail: refused
            ? `nothing listening on ${shown} (connection refused)`
            : `cannot connect to ${shown}: ${error.code ?? error.message}`,
          diagnosis: refused ? 'nothing-listening' : 'unreachable',
          fix: refused
            ? 'start the gateway (loopgate gateway run), or point at the right port with --url / gateway.port'
            : 'check the host is up and reachable from here',
        },
      });
    });
  });
}

export type TlsOutcome = { socket: TLSSocket; certificate: CertificateProbe };

/** TLS handshake over `socket`, then the pin check: the presented certificate's SHA-256 against the pins. */
export function tlsStep(
  socket: Socket,
  target: { host: string; port: number },
  pins: string | readonly string[] | undefined,
  timeoutMs: number,
): Promise<StepResult<TlsOutcome>> {
  const elapsed = timed();
  return new Promise((resolve) => {
    const secure = tlsConnect({
      socket,
      servername: isIP(target.host) ? undefined : target.host,
      rejectUnauthorized: false,
    });
    const fail = (detail: string, diagnosis: ProbeStep['diagnosis'], fix: string) => {
      clearTimeout(timer);
      secure.destroy();
      resolve({ step: { step: 'tls', verdict: 'fail', ms: elapsed(), detail, diagnosis, fix } });
    };
    const timer = setTimeout(
      () =>
        fail(
          `TCP accepted but no TLS handshake within ${timeoutMs} ms`,
          'wedged',
          'the process holding the port is stuck or is not a TLS server: check it on the host (loopgate doctor)',
        ),
      timeoutMs,
    );
    secure.once('error', (error: NodeJS.ErrnoException) =>
      fail(
        `TLS handshake failed: ${error.code ?? error.message}`,
        'tls-failed',
        /WRONG_VERSION_NUMBER|wrong version/i.test(`${error.code} ${error.message}`)
          ? 'the server does not speak TLS here: use ws:// if the gateway runs without gateway.tls.enabled'
          : 'check gateway.tls on the host (loopgate gateway tls fingerprint)',
      ),
    );
    secure.once('secureConnect', () => {
      clearTimeout(timer);
      const cert = secure.getPeerX509Certificate();
      if (!cert)
        return fail(
          'the server presented no certificate',
          'tls-failed',
          'check gateway.tls on the host',
        );
      const certificate: CertificateProbe = {
        host: target.host,
        port: target.port,
        fingerprint: cert.fingerprint256,
        subject: cert.subject,
        issuer: cert.issuer,
        subjectAltName: cert.subjectAltName,
        validFrom: cert.validFrom,
        validTo: cert.validTo,
        trustedBySystem: secure.authorized,
        untrustedReason: secure.authorizationError ? String(secure.authorizationError) : undefined,
      };
      const step = pinVerdict(certificate, pins, elapsed());
      const goOn = step.verdict !== 'fail' || step.diagnosis === 'tls-untrusted';
      if (!goOn) secure.destroy();
      resolve({ step, value: goOn ? { socket: secure, certificate } : undefined });
    });
  });
}

function pinVerdict(
  certificate: CertificateProbe,
  pins: string | readonly string[] | undefined,
  ms: number,
): ProbeStep {
  const presented = certificate.fingerprint;
  if (pins === undefined || (typeof pins !== 'string' && pins.length === 0)) {
    if (certificate.trustedBySystem)
      return {
        step: 'tls',
        verdict: 'ok',
        ms,
        detail: `certificate trusted by the system CAs (sha256 ${presented})`,
      };
    // A client command would refuse this certificate; the probe goes on (no credential is sent
    // before auth) so the operator sees whether it is a Loopgate gateway worth pinning.
    return {
      step: 'tls',
      verdict: 'fail',
      ms,
      detail: `certificate not pinned and not trusted by the system CAs (sha256 ${presented})`,
      diagnosis: 'tls-untrusted',
      fix: `compare it with "loopgate gateway tls fingerprint" on the gateway host, then pass --tls-fingerprint ${presented} (or gateway probe --pin)`,
    };
  }
  const expected = parseFingerprints(pins);
  if (expected.includes(presented))
    return { step: 'tls', verdict: 'ok', ms, detail: `pin matches (sha256 ${presented})` };
  return {
    step: 'tls',
    verdict: 'fail',
    ms,
    detail: `pin mismatch: the server presented sha256 ${presented}, pinned ${expected.join(', ')}`,
    diagnosis: 'tls-pin-mismatch',
    fix: 'do not connect until you know why: run "loopgate gateway tls fingerprint" on the gateway host; if the certificate was rotated on purpose, re-pin with loopgate gateway probe --pin',
  };
}

export type UpgradeAnswer = { status: number; headers: Record<string, string>; body: string };

const MAX_HEAD_BYTES = 16 * 1024;

/**
 * Sends a bare WebSocket upgrade (no credential) and reads the answer's head,
 * bounded in size and time. Silence after TCP accepted is the "wedged" case.
 */
export function upgradeStep(
  socket: Socket,
  target: { host: string; port: number },
  timeoutMs: number,
  where: { tunnel: boolean },
): Promise<StepResult<UpgradeAnswer>> {
  const elapsed = timed();
  const hostHeader = `${target.host.includes(':') ? `[${target.host}]` : target.host}:${target.port}`;
  return new Promise((resolve) => {
    let received = Buffer.alloc(0);
    const finish = (result: StepResult<UpgradeAnswer>) => {
      clearTimeout(timer);
      socket.removeAllListeners('data');
      socket.destroy();
      resolve(result);
    };
    const fail = (detail: string, diagnosis: ProbeStep['diagnosis'], fix: string) =>
      finish({ step: { step: 'upgrade', verdict: 'fail', ms: elapsed(), detail, diagnosis, fix } });
    const timer = setTimeout(
      () =>
        fail(
          `TCP accepted but no answer to the WebSocket upgrade within ${timeoutMs} ms: listening but wedged`,
          'wedged',
          'the process on that port accepts connections but does not answer: find it (loopgate doctor, or ss -ltnp) and restart it',
        ),
      timeoutMs,
    );
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const end = received.indexOf('\r\n\r\n');
      if (end === -1 && received.length < MAX_HEAD_BYTES) return;
      const answer = parseHead(received, end);
      if (!answer)
        return fail(
          `the server answered, but not with HTTP (${JSON.stringify(received.subarray(0, 40).toString('latin1'))})`,
          'not-a-gateway',
          'this port belongs to another program: check the gateway URL and port',
        );
      finish(judgeUpgrade(answer, elapsed()));
    });
    socket.once('close', () =>
      fail(
        where.tunnel
          ? 'the tunnel accepted the connection but the far end closed it: nothing listening on the gateway port on the ssh host'
          : 'the server closed the connection without answering the upgrade',
        where.tunnel ? 'nothing-listening' : 'not-a-gateway',
        where.tunnel
          ? 'start the gateway on the remote host, or set the right port with gateway.remote.ssh.remotePort'
          : 'this port belongs to another program: check the gateway URL and port',
      ),
    );
    socket.on('error', () => {
      /* reported by 'close', which always follows */
    });
    // `?connectionParams=1`: the gateway then waits for credentials instead of judging the
    // upgrade as a credential-less login, so this check never counts toward the lockout.
    socket.write(
      `GET /?connectionParams=1 HTTP/1.1\r\nHost: ${hostHeader}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n` +
        'User-Agent: loopgate-probe\r\n\r\n',
    );
  });
}

function parseHead(data: Buffer, end: number): UpgradeAnswer | undefined {
  const head = data.subarray(0, end === -1 ? MAX_HEAD_BYTES : end).toString('latin1');
  const [statusLine = '', ...lines] = head.split('\r\n');
  const match = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine);
  if (!match) return undefined;
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon > 0)
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const body =
    end === -1
      ? ''
      : data
          .subarray(end + 4, end + 4 + 300)
          .toString('utf8')
          .trim();
  return { status: Number(match[1]), headers, body };
}

function judgeUpgrade(answer: UpgradeAnswer, ms: number): StepResult<UpgradeAnswer> {
  const isGateway = answer.headers[IDENTITY_HEADERS.version] !== undefined;
  const server = answer.headers.server ? ` (server: ${answer.headers.server.slice(0, 60)})` : '';
  if (!isGateway) {
    return {
      step: {
        step: 'upgrade',
        verdict: 'fail',
        ms,
        detail: `HTTP ${answer.status}${server} without ${IDENTITY_HEADERS.version}: not a Loopgate gateway`,
        diagnosis: 'not-a-gateway',
        fix: 'another program holds this port: check the gateway URL and port (gateway.port, --url)',
      },
    };
  }
  if (answer.status === 101)
    return {
      step: { step: 'upgrade', verdict: 'ok', ms, detail: 'HTTP 101 switching protocols' },
      value: answer,
    };
  const reason = answer.body.split('\n')[0] ?? '';
  if (answer.status === 429 && /failed authentication/i.test(reason)) {
    return {
      step: {
        step: 'upgrade',
        verdict: 'fail',
        ms,
        detail: `locked out: HTTP 429 — ${reason}`,
        diagnosis: 'locked-out',
        fix: `too many failed logins from this address: fix the credential, then wait ${answer.headers['retry-after'] ?? 'a few'} s (or restart the gateway to clear the lockout)`,
      },
      value: answer,
    };
  }
  return {
    step: {
      step: 'upgrade',
      verdict: 'fail',
      ms,
      detail: `the gateway refused the upgrade: HTTP ${answer.status} — ${reason}`,
      diagnosis: 'upgrade-refused',
      fix: reason || 'see the gateway log (loopgate logs)',
    },
    value: answer,
  };
}
