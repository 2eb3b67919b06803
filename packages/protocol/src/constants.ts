/** The gateway's well-known loopback port. */
export const DEFAULT_PORT = 18789;
export const DEFAULT_HOST = '127.0.0.1';
export const PROTOCOL_VERSION = 1;
export const LOOPGATE_VERSION = '0.1.0';

/**
 * WebSocket close codes the gateway uses. 4000–4999 are reserved for
 * applications; each one maps to a `GatewayErrorCode` so a client can tell a
 * final refusal (do not retry) from a transient drop (reconnect).
 */
export const CloseCode = {
  normal: 1000,
  goingAway: 1001,
  messageTooBig: 1009,
  tryAgainLater: 1013,
  unauthorized: 4001,
  forbidden: 4003,
  authDeadline: 4008,
  slowConsumer: 4009,
  revoked: 4010,
  rateLimited: 4029,
} as const;
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];

/** Close codes after which reconnecting with the same credentials is pointless. */
export const FINAL_CLOSE_CODES: ReadonlySet<number> = new Set([
  CloseCode.unauthorized,
  CloseCode.forbidden,
  CloseCode.revoked,
]);
