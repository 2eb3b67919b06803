import {
  CloseCode,
  FINAL_CLOSE_CODES,
  GatewayError,
  type GatewayErrorCode,
  IDENTITY_HEADERS,
} from '@loopgate/protocol';

/**
 * Why a connection ended (or never started), and whether trying again with
 * the same credentials can help. Pure: the transport feeds it what the socket
 * reported and acts on the answer.
 */
export type Disconnect =
  | { final: true; state: 'unauthorized' | 'pin-mismatch' | 'closed'; error: GatewayError }
  | { final: false; error: GatewayError; retryAfterMs?: number };

/** Codes in an `{ id: null, error }` frame that mean "these credentials will not do". */
const CREDENTIAL_CODES: ReadonlySet<GatewayErrorCode> = new Set([
  'UNAUTHORIZED',
  'FORBIDDEN',
  'NOT_PAIRED',
]);

/** A connection-level error from the server that ends the connection for good. */
export function isCredentialRefusal(error: GatewayError): boolean {
  return CREDENTIAL_CODES.has(error.code);
}

const CONNECT_REASONS: Record<string, string> = {
  ECONNREFUSED: 'connection refused — is the gateway running? (loopgate gateway run)',
  ECONNRESET: 'connection reset by the peer',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host name lookup failed (temporary DNS failure)',
  ETIMEDOUT: 'timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  EADDRNOTAVAIL: 'address not available',
  EPIPE: 'connection closed while sending',
};

/** Certificate failures: retrying cannot fix them, re-pinning or trusting the certificate can. */
const TLS_TRUST_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

function errorCodeOf(error: unknown): string | undefined {
  if (error === null || typeof error !== 'object') return undefined;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') return code;
  // Node's happy-eyeballs connect reports every address it tried.
  const inner = (error as { errors?: unknown }).errors;
  return Array.isArray(inner) && inner.length > 0 ? errorCodeOf(inner[0]) : undefined;
}

/** A socket that failed before it opened: refused, unreachable, TLS, timeout… */
export function classifyConnectFailure(error: unknown, url: string): Disconnect {
  if (error instanceof GatewayError) {
    // A socket factory (TLS pinning, SSH tunnel) already knows what went wrong.
    if (error.code === 'TLS_PIN_MISMATCH') return { final: true, state: 'pin-mismatch', error };
    if (isCredentialRefusal(error)) return { final: true, state: 'unauthorized', error };
    return { final: false, error };
  }
  const code = errorCodeOf(error);
  const message = error instanceof Error ? error.message : '';
  if (code && TLS_TRUST_CODES.has(code)) {
    return {
      final: true,
      state: 'closed',
      error: new GatewayError(
        'UNAVAILABLE',
        `cannot connect to ${url}: its TLS certificate is not trusted (${code}) — pin the gateway's certificate fingerprint (gateway.remote.tlsFingerprint)`,
        { details: { reason: code } },
      ),
    };
  }
  if (code === 'EPROTO' || code === 'ERR_SSL_WRONG_VERSION_NUMBER') {
    return {
      final: true,
      state: 'closed',
      error: new GatewayError(
        'UNAVAILABLE',
        `cannot connect to ${url}: TLS handshake failed — does the URL scheme (ws:// or wss://) match the gateway?`,
        {
          details: { reason: code },
        },
      ),
    };
  }
  if (/handshake has timed out/i.test(message)) {
    return {
      final: false,
      error: new GatewayError(
        'UNAVAILABLE',
        `cannot connect to ${url}: something accepts connections there but did not answer the WebSocket upgrade in time — it does not answer as a Loopgate gateway (wrong port? a wss:// gateway dialled as ws://?)`,
        {
          details: { reason: 'ETIMEDOUT' },
        },
      ),
    };
  }
  const reason = code ?? 'ECONNFAILED';
  const words = (code && CONNECT_REASONS[code]) ?? 'connection failed';
  return {
    final: false,
    error: new GatewayError('UNAVAILABLE', `cannot connect to ${url}: ${words}`, {
      details: { reason },
    }),
  };
}

/** The first line of a short server-supplied text, safe to show. */
function firstLine(text: string): string {
  const line = text.trim().split(/\r?\n/, 1)[0] ?? '';
  return line.length > 200 ? `${line.slice(0, 200)}…` : line;
}

/** Milliseconds from `retryAfterMs=N` (the gateway's close reason) or a JSON reason. */
export function retryAfterFromReason(reason: string): number | undefined {
  const match = /retryAfterMs["'\s]*[=:]\s*(\d+)/.exec(reason);
  return match ? Number(match[1]) : undefined;
}

/** The gateway (or something in front of it) answered the upgrade with plain HTTP. */
export function classifyHttpRejection(
  status: number,
  headers: Record<string, string | string[] | undefined>,
  body: string,
  url: string,
): Disconnect {
  const said = firstLine(body);
  const because = said ? `: ${said}` : '';
  switch (status) {
    case 401:
      return {
        final: true,
        state: 'unauthorized',
        error: new GatewayError(
          'UNAUTHORIZED',
          `${url} refused the credentials (HTTP 401)${because}`,
          {
            details: { httpStatus: status },
          },
        ),
      };
    case 403:
    case 421:
      return {
        final: true,
        state: 'closed',
        error: new GatewayError(
          'FORBIDDEN',
          `${url} refused the connection (HTTP ${status})${because}`,
          {
            details: { httpStatus: status },
          },
        ),
      };
    case 429: {
      const header = headers['retry-after'];
      const seconds = Number(Array.isArray(header) ? header[0] : header);
      const retryAfterMs =
        Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : retryAfterFromReason(body);
      return {
        final: false,
        retryAfterMs,
        error: new GatewayError(
          'RATE_LIMITED',
          `${url} is refusing connections for now (HTTP 429)${because}`,
          {
            details: {
              httpStatus: status,
              ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
            },
          },
        ),
      };
    }
    default:
      if (headers[IDENTITY_HEADERS.version] === undefined) return notAGateway(status, headers, url);
      return {
        final: false,
        error: new GatewayError(
          'UNAVAILABLE',
          `cannot connect to ${url}: HTTP ${status}${because}`,
          {
            details: { httpStatus: status },
          },
        ),
      };
  }
}

/**
 * An HTTP answer without the identity header every gateway answer carries:
 * some other web server listens there. Its body (an HTML page, usually) says
 * nothing useful to an operator; what kind of server it is does.
 */
function notAGateway(
  status: number,
  headers: Record<string, string | string[] | undefined>,
  url: string,
): Disconnect {
  const type = [headers['content-type']].flat()[0]?.split(';')[0]?.trim();
  const server = [headers.server].flat()[0];
  const what = [`HTTP ${status}`, type, server && `server: ${firstLine(server)}`]
    .filter(Boolean)
    .join(', ');
  return {
    final: false,
    error: new GatewayError(
      'UNAVAILABLE',
      `cannot connect to ${url}: an HTTP server answered (${what}) but it is not a Loopgate gateway — check the host and port`,
      { details: { httpStatus: status, reason: 'NOT_A_GATEWAY' } },
    ),
  };
}

/**
 * An open connection closed. `serverError` is what the gateway said in an
 * `{ id: null, error }` frame just before, if anything — a stock tRPC server
 * rejects credentials that way and then closes with a plain 1000/1005.
 */
export function classifyClose(
  code: number,
  reason: string,
  serverError: GatewayError | undefined,
  url: string,
): Disconnect {
  const said = firstLine(reason);
  if (serverError && isCredentialRefusal(serverError)) {
    return { final: true, state: 'unauthorized', error: serverError };
  }
  if (FINAL_CLOSE_CODES.has(code)) {
    const errorCode: GatewayErrorCode = code === CloseCode.forbidden ? 'FORBIDDEN' : 'UNAUTHORIZED';
    const fallback =
      code === CloseCode.revoked
        ? 'the gateway revoked these credentials'
        : 'the gateway rejected the credentials';
    return {
      final: true,
      state: 'unauthorized',
      error: new GatewayError(errorCode, said ? stripCodePrefix(said) : fallback, {
        details: { closeCode: code },
      }),
    };
  }
  if (code === CloseCode.rateLimited || serverError?.code === 'RATE_LIMITED') {
    const fromServer = serverError?.details?.retryAfterMs;
    const retryAfterMs = typeof fromServer === 'number' ? fromServer : retryAfterFromReason(reason);
    return {
      final: false,
      retryAfterMs,
      error: new GatewayError(
        'RATE_LIMITED',
        serverError?.message ?? (said ? stripCodePrefix(said) : 'too many attempts'),
        {
          details: { closeCode: code, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) },
        },
      ),
    };
  }
  if (code === CloseCode.messageTooBig) {
    return {
      final: false,
      error: new GatewayError(
        'PAYLOAD_TOO_LARGE',
        `${url} closed the connection: a message was too large`,
        {
          details: { closeCode: code },
        },
      ),
    };
  }
  const because = said ? `: ${said}` : '';
  return {
    final: false,
    error: new GatewayError(
      'UNAVAILABLE',
      `connection to ${url} lost (close code ${code})${because}`,
      {
        details: { closeCode: code },
      },
    ),
  };
}

/** The gateway's close reasons start with the error code (`UNAUTHORIZED: invalid token`); the code travels separately. */
function stripCodePrefix(reason: string): string {
  return reason.replace(/^[A-Z_]+:\s*/, '').replace(/\s*retryAfterMs=\d+$/, '');
}

/**
 * What a query or mutation that was already sent learns when its connection
 * drops: it may or may not have run, so it is not replayed.
 */
export function inFlightError(disconnect: Disconnect, url: string): GatewayError {
  const { error } = disconnect;
  if (disconnect.final || error.code !== 'UNAVAILABLE') return error;
  return new GatewayError(
    'UNAVAILABLE',
    `connection to ${url} lost while the call was in flight; it may or may not have run`,
    { details: { ...error.details, inFlight: true } },
  );
}
