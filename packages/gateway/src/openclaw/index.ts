/**
 * The OpenClaw endpoint: a second WebSocket door on the gateway port that
 * speaks OpenClaw's gateway protocol, so its node hosts, apps and scripts
 * connect unchanged. Off unless `gateway.openclaw.enabled`; the same
 * admission, limits, lockout and authorization table as the tRPC door
 * (docs/openclaw-compat.md lists what it serves).
 */
import type { IncomingMessage } from 'node:http';
import type { WebSocket } from 'ws';
import type { AdmissionAccepted } from '../transport/index.js';
import { OpenClawConnection, type OpenClawEndpointOptions } from './connection.js';

export type { OpenClawConnection, OpenClawEndpointOptions } from './connection.js';
export { openClawMethods } from './methods.js';

export class OpenClawEndpoint {
  readonly #opts: OpenClawEndpointOptions;

  constructor(options: OpenClawEndpointOptions) {
    this.#opts = options;
  }

  /** Whether an upgrade is for this endpoint: enabled, and its path (a trailing slash allowed). */
  owns(request: IncomingMessage): boolean {
    const { enabled, path } = this.#opts.settings;
    if (!enabled) return false;
    const url = request.url ?? '/';
    const end = url.indexOf('?');
    const pathname = end === -1 ? url : url.slice(0, end);
    return pathname === path || pathname === `${path}/`;
  }

  /** Takes an admitted socket; it is the endpoint's until it closes. */
  accept(socket: WebSocket, admission: AdmissionAccepted): OpenClawConnection {
    return new OpenClawConnection(socket, admission, this.#opts);
  }
}
