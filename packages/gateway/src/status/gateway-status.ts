import { type IntervalHistogram, monitorEventLoopDelay, performance } from 'node:perf_hooks';
import {
  type HealthOutput,
  LOOPGATE_VERSION,
  type LoopgateConfig,
  type StatusOutput,
} from '@loopgate/protocol';
import type { GatewayCredential, TailscaleWhois } from '../auth/index.js';
import type { GatewayServices } from '../services.js';
import type { BoundAddress } from '../transport/index.js';

/**
 * Event-loop delay p99 over the last interval (as HealthOutput documents):
 * read and reset at most once a second, so a busy `health` caller neither
 * pays for the percentile on every call nor sees an all-time figure.
 */
export class EventLoopDelay {
  readonly #histogram: IntervalHistogram = monitorEventLoopDelay({ resolution: 10 });
  #p99Ms = 0;
  #sampledAt = 0;

  enable(): void {
    this.#histogram.enable();
  }

  disable(): void {
    this.#histogram.disable();
  }

  p99(now: number): number {
    if (now - this.#sampledAt >= 1_000) {
      const histogram = this.#histogram;
      this.#p99Ms = histogram.count > 0 ? Math.round(histogram.percentile(99) / 1e4) / 100 : 0;
      histogram.reset();
      this.#sampledAt = now;
    }
    return this.#p99Ms;
  }
}

/** What `status` reads that only exists once `start()` has run. */
export type StartedParts = {
  addresses(): readonly BoundAddress[];
  credential(): GatewayCredential | undefined;
  tlsFingerprint(): string | undefined;
};

type StatusSources = Pick<
  GatewayServices,
  'startedAt' | 'connections' | 'nodes' | 'agent' | 'channels' | 'events'
> & {
  config: LoopgateConfig;
  loopDelay: EventLoopDelay;
  tailscale: Pick<TailscaleWhois, 'availability'>;
  started: StartedParts;
};

/** `health` and `status`: vital signs and the picture an operator asks for. */
export function gatewayStatus(sources: StatusSources): Pick<GatewayServices, 'health' | 'status'> {
  const { config, startedAt, connections, nodes, agent, channels, events, started } = sources;
  const health = (): HealthOutput => {
    const t0 = performance.now();
    const now = Date.now();
    return {
      ok: true,
      version: LOOPGATE_VERSION,
      uptimeMs: now - startedAt,
      eventLoopDelayMs: sources.loopDelay.p99(now),
      connections: connections.counts(),
      checkDurationMs: performance.now() - t0,
    };
  };
  const status = async (options?: { deep: boolean }): Promise<StatusOutput> => {
    const bound = started.addresses();
    const credential = started.credential();
    const fingerprint = started.tlsFingerprint();
    const { allowTailscale } = config.gateway.auth;
    return {
      version: LOOPGATE_VERSION,
      pid: process.pid,
      startedAt,
      bind: {
        mode: config.gateway.bind,
        addresses: bound.map((b) => b.host),
        port: bound[0]?.port ?? config.gateway.port,
        urls: bound.map((b) => b.url),
      },
      auth: {
        mode: credential?.mode ?? 'token',
        source: credential?.source ?? 'generated',
        allowTailscale,
        ...(allowTailscale
          ? { tailscale: `tailscale identity: ${await sources.tailscale.availability()}` }
          : {}),
      },
      tls: {
        enabled: config.gateway.tls.enabled,
        ...(fingerprint ? { fingerprint } : {}),
      },
      ...(config.gateway.openclaw.enabled
        ? {
            openclaw: {
              path: config.gateway.openclaw.path,
              urls: bound.map((b) => `${b.url}${config.gateway.openclaw.path}`),
            },
          }
        : {}),
      connections: connections.counts(),
      nodes: nodes.counts(),
      sessions: agent.statusSummary(),
      channels: await channels.status({ deep: options?.deep ?? false }),
      events: { lastEventId: events.lastEventId },
      ...(options?.deep ? { deep: { nodes: await nodes.probe() } } : {}),
    };
  };
  return { health, status };
}
