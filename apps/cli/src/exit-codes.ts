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
}

const CONNECT_CODES = new Set(['TLS_PIN_MISMATCH', 'TUNNEL_FAILED']);

export function exitCodeFor(error: unknown): number {
  if (error instanceof UsageError) return ExitCode.usage;
  if (error instanceof Error && error.name === 'ConfigError') return ExitCode.usage;
  if (error instanceof GatewayError) {
    if (CONNECT_CODES.has(error.code)) return ExitCode.cannotConnect;
    // The client marks failures to reach the socket at all (refused, DNS, TLS trust, handshake) this way.
    if (error.code === 'UNAVAILABLE' && error.message.startsWith('cannot connect'))
      return ExitCode.cannotConnect;
    return ExitCode.gatewayError;
  }
  return ExitCode.gatewayError;
}

/** One clear line: what failed, why, what to try. Never a stack trace. */
export function describeError(error: unknown): string {
  if (error instanceof GatewayError) return `${error.code}: ${error.describe()}`;
  if (error instanceof Error && error.name === 'ConfigError') return error.message;
  if (error instanceof Error) return error.message;
  return String(error);
}
