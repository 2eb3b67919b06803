import { rm } from 'node:fs/promises';
import { createGatewayClient, type GatewayClient } from '@loopgate/client';
import { makeTempDir } from '../gateway-harness.js';
import { type GatewayProcess, startGatewayProcess } from './gateway-process.js';

export type StormOptions = {
  clients: number;
  /** Sliding window the "how many at once" figure is taken over. */
  windowMs?: number;
  /** Bound on waiting for every client to be back. */
  timeoutMs?: number;
  /** Called with progress lines (for the bench program). */
  log?: (line: string) => void;
};

export type StormResult = {
  clients: number;
  windowMs: number;
  /** Most clients whose reconnect completed inside one window, and that as a share of all clients. */
  peakInWindow: number;
  peakShare: number;
  /** From the old gateway going away to the new one accepting connections. */
  downtimeMs: number;
  /** From the new gateway being ready until the last client was back. */
  allBackAfterReadyMs: number;
  /** From the old gateway going away until the last client was back. */
  allBackAfterStopMs: number;
  /** Reconnect attempts the clients needed in all (from the `reconnecting` states they passed through). */
  attempts: number;
  /** Events each client's subscription saw from the new gateway (it resumed, not just reconnected). */
  resumedSubscriptions: number;
};

/**
 * The reconnect storm (HARDENING row 21): `clients` typed clients, each with
 * a live event subscription, on a gateway in its own process; the gateway is
 * stopped and a new process started on the same port and state dir, as a
 * restart or an upgrade would. Measures when each client is back.
 */
export async function runReconnectStorm(options: StormOptions): Promise<StormResult> {
  const windowMs = options.windowMs ?? 100;
  const log = options.log ?? (() => {});
  const stateDir = await makeTempDir('loopgate-storm-');
  const config = { gateway: { limits: { maxConnectionsPerAddress: options.clients + 50 } } };
  let gateway: GatewayProcess | undefined = await startGatewayProcess({ stateDir, config });
  const clients: GatewayClient[] = [];
  try {
    const port = gateway.port;
    const reopenedAt: (number | undefined)[] = [];
    const resumed: boolean[] = [];
    let attempts = 0;
    let stoppedAt = 0;
    for (let i = 0; i < options.clients; i++) {
      const client = createGatewayClient({
        url: gateway.url,
        token: gateway.token,
        clientName: `storm-${i}`,
      });
      clients.push(client);
      client.connection.subscribe((state) => {
        if (stoppedAt === 0) return;
        if (state.state === 'reconnecting') attempts++;
        if (state.state === 'open' && reopenedAt[i] === undefined) reopenedAt[i] = Date.now();
      });
      // `gateway.stopping` reaches the client before the drop and gives it an id to resume from;
      // `gateway.started` then only arrives through the resumed subscription.
      client.events.subscribe(
        { types: ['gateway.'] },
        {
          onData: (envelope) => {
            if (envelope.data.type === 'gateway.started') resumed[i] = true;
          },
        },
      );
    }
    await Promise.all(clients.map((c) => waitUntilOpen(c, 20_000)));
    log(`${options.clients} clients connected and subscribed`);

    stoppedAt = Date.now();
    await gateway.stop();
    gateway = undefined;
    const next = await startGatewayProcess({
      stateDir,
      config: { ...config, gateway: { ...config.gateway, port } },
    });
    gateway = next;
    const readyAt = Date.now();
    log(`gateway restarted (down ${readyAt - stoppedAt} ms)`);

    const deadline = Date.now() + (options.timeoutMs ?? 60_000);
    while (
      reopenedAt.filter((t) => t !== undefined).length < options.clients ||
      resumed.filter(Boolean).length < options.clients
    ) {
      if (Date.now() > deadline) {
        throw new Error(
          `after ${options.timeoutMs ?? 60_000} ms only ${reopenedAt.filter((t) => t !== undefined).length}/${options.clients} clients were back and ${resumed.filter(Boolean).length} resumed`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const times = (reopenedAt as number[]).slice().sort((a, b) => a - b);
    const peak = peakInWindow(times, windowMs);
    const last = times.at(-1) as number;
    return {
      clients: options.clients,
      windowMs,
      peakInWindow: peak,
      peakShare: peak / options.clients,
      downtimeMs: readyAt - stoppedAt,
      allBackAfterReadyMs: last - readyAt,
      allBackAfterStopMs: last - stoppedAt,
      attempts,
      resumedSubscriptions: resumed.filter(Boolean).length,
    };
  } finally {
    // Teardown after the measurement: a close error does not change the result.
    await Promise.all(clients.map((c) => c.close().catch(() => {})));
    await gateway?.stop();
    await rm(stateDir, { recursive: true, force: true });
  }
}

/** The most timestamps inside any window of `windowMs` (sorted input). */
export function peakInWindow(sortedTimes: readonly number[], windowMs: number): number {
  let peak = 0;
  let start = 0;
  for (let end = 0; end < sortedTimes.length; end++) {
    while ((sortedTimes[end] as number) - (sortedTimes[start] as number) >= windowMs) start++;
    peak = Math.max(peak, end - start + 1);
  }
  return peak;
}

function waitUntilOpen(client: GatewayClient, timeoutMs: number): Promise<void> {
  if (client.connection.get().state === 'open') return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`client still ${client.connection.get().state} after ${timeoutMs} ms`));
    }, timeoutMs);
    const off = client.connection.subscribe((state) => {
      if (state.state === 'open') {
        clearTimeout(timer);
        off();
        resolve();
      }
    });
  });
}
