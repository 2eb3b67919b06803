import { GatewayError } from '@loopgate/protocol';

/** The CLI's exit-code contract, the same for every command. */
export const ExitCode = {
  ok: 0,
  /** The gateway answered with an error (typed GatewayError). */
  gatewayError: 1,
  /** Bad flags, arguments or configuration. */
  usage: 2,
  /** Could not reach the gateway at all (refused, DNS, TLS pin, tunnel). */
  cannotConnect: 3,
} as const;

/** A usage or configuration problem the user must fix (exit 2). */
export class UsageError extends Error {
  override readonly name = 'UsageError';
  /** `INVALID_CONFIG` for the config file, `USAGE` for flags and arguments. */
  readonly code: 'USAGE' | 'INVALID_CONFIG';

  constructor(message: string, options?: { code?: 'USAGE' | 'INVALID_CONFIG'; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = options?.code ?? 'USAGE';
  }
}

/**
 * Runs what a command does before any byte goes to a gateway — resolving the
 * target from flags, environment and config file, building the client or
 * node (URL, TLS pin, plain ws:// beyond loopback). A GatewayError raised
 * there comes from the caller's settings, not from a gateway: it becomes a
 * UsageError (exit 2).
 */
export function beforeConnecting<T>(setUp: () => T): T {
  try {
    return setUp();
  } catch (error) {
    throw asUsageError(error);
  }
}

/** The async form of `beforeConnecting` (setting up an SSH tunnel reads the config too). */
export async function beforeConnectingAsync<T>(setUp: () => Promise<T>): Promise<T> {
  try {
    return await setUp();
  } catch (error) {
    throw asUsageError(error);
  }
}

function asUsageError(error: unknown): unknown {
  if (!(error instanceof GatewayError)) return error;
  const config = error.details?.configPath !== undefined;
  return new UsageError(error.message, {
    code: config ? 'INVALID_CONFIG' : 'USAGE',
    cause: error,
  });
}

const CONNECT_CODES = new Set(['TLS_PIN_MISMATCH', 'TUNNEL_FAILED']);

function cannotConnect(error: GatewayError): boolean {
  if (CONNECT_CODES.has(error.code)) return true;
  // The client marks failures to reach the socket at all (refused, DNS, TLS trust, handshake) this way.
  return error.code === 'UNAVAILABLE' && error.message.startsWith('cannot connect');
}

export function exitCodeFor(error: unknown): number {
  if (error instanceof UsageError) return ExitCode.usage;
  if (error instanceof Error && error.name === 'ConfigError') return ExitCode.usage;
  if (error instanceof GatewayError)
    return cannotConnect(error) ? ExitCode.cannotConnect : ExitCode.gatewayError;
  return ExitCode.gatewayError;
}

/** One clear line: what failed, why, what to try. Never a stack trace. */
export function describeError(error: unknown): string {
  if (error instanceof GatewayError) return `${error.code}: ${error.describe()}`;
  if (error instanceof Error) return error.message;
  return String(error);
}

/** What `--json` prints for a failed command: `{"error":{"code","message","hint"}}`. */
export type ErrorRecord = { code: string; message: string; hint?: string };

export function errorRecord(error: unknown): ErrorRecord {
  if (error instanceof GatewayError) {
    // the hint describe() appends (a command may give its own, for its own audience)
    const described = error.describe();
    const prefix = `${error.message} — `;
    const hint = described.startsWith(prefix) ? described.slice(prefix.length) : undefined;
    return { code: error.code, message: error.message, ...(hint ? { hint } : {}) };
  }
  if (error instanceof UsageError) return { code: error.code, message: error.message };
  if (error instanceof Error && error.name === 'ConfigError')
    return { code: 'INVALID_CONFIG', message: error.message };
  return { code: 'INTERNAL', message: error instanceof Error ? error.message : String(error) };
}
