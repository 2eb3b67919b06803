import type { ConnectionRole, CredentialKind, Principal } from '@loopgate/protocol';
import type { GatewayServices } from '../services.js';

/** Who is on the other end of one WebSocket, established once at connect. */
export type ConnectionInfo = {
  id: string;
  role: ConnectionRole;
  /** Who the authorization table sees: the role, and for operators their scope. */
  principal: Principal;
  /** What it authenticated with: rotation and revocation close the sockets that match. */
  credential: CredentialKind;
  /** The operator token's name, when `credential` is `operator-token`. */
  credentialName: string | undefined;
  /** Epoch ms when the credential stops working (operator tokens with an expiry). */
  expiresAt: number | undefined;
  /** Whether this socket came in over TLS. */
  tls: boolean;
  remoteAddress: string;
  isLoopback: boolean;
  clientName: string | undefined;
  clientVersion: string | undefined;
  /** Set for role `node`: the paired node this socket speaks for. */
  nodeId: string | undefined;
  /** Set for role `pairing`: the node key this socket proved, under which it may ask to pair. */
  nodeKey: string | undefined;
  connectedAt: number;
  /** Closes this socket with a WebSocket close code and a human reason. */
  close(code: number, reason: string): void;
  /** Fires when the socket closes, for cleanup that outlives any one procedure call. */
  readonly closed: AbortSignal;
};

export type GatewayContext = {
  conn: ConnectionInfo;
  services: GatewayServices;
};
