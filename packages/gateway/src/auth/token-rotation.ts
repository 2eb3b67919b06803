import { CloseCode, GatewayError } from '@loopgate/protocol';
import type { ConnectionInfo } from '../router/context.js';
import { type GatewayCredential, rotateGeneratedToken } from './credentials.js';

export type TokenRotationDeps = {
  stateDir: string;
  /** The credential in force; replaced by the new one. */
  credential: { current: GatewayCredential | undefined };
  connections: { all(): Iterable<ConnectionInfo> };
  events: { emit(event: { type: 'auth.rotated' }): unknown };
};

/**
 * Replaces the generated gateway token and closes every socket that used the
 * old one. A configured token or password belongs to whoever configured it,
 * so it is refused here with where to change it instead.
 */
export async function rotateGatewayToken(deps: TokenRotationDeps): Promise<{ tokenPath: string }> {
  if (deps.credential.current?.source !== 'generated') {
    throw new GatewayError(
      'CONFLICT',
      'the operator credential comes from configuration or the environment; change it there and restart the gateway',
    );
  }
  const rotated = await rotateGeneratedToken(deps.stateDir);
  deps.credential.current = rotated;
  deps.events.emit({ type: 'auth.rotated' });
  // Let the caller's reply go out first, then drop every socket on the old token
  // (named operator tokens and Tailscale identities are not the gateway token).
  setImmediate(() => {
    for (const info of deps.connections.all()) {
      if (info.credential === 'gateway-token')
        info.close(CloseCode.unauthorized, 'UNAUTHORIZED: the gateway token was rotated');
    }
  });
  return { tokenPath: rotated.tokenPath! };
}
