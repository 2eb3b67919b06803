import { type ChannelStatus, GatewayError, SessionId } from '@loopgate/protocol';
import {
  type Channel,
  type ChannelHost,
  ChannelStatusTracker,
  type DeliveryMeta,
  type ProbeResult,
} from './channel.js';

export type WebchatMessage = {
  sessionId: string;
  channel: string;
  to: string;
  text: string;
  messageId: string;
};

export type WebchatChannelOptions = {
  enabled: boolean;
  host: ChannelHost;
  /** Puts a message on the session's live feed (`agent.events({ sessionId })`). */
  publish(message: WebchatMessage): void;
  /** Operator clients currently watching agent events. */
  watchers(): number;
};

/**
 * Operator clients on the gateway socket — the dashboard's chat pane, the
 * CLI. They talk to the agent with `agent` and watch `agent.events`; a
 * `send` to webchat puts a message on a session's feed (`to` is the session
 * id), where every client watching that session sees it.
 */
export class WebchatChannel implements Channel {
  readonly name = 'webchat';
  readonly #options: WebchatChannelOptions;
  readonly #tracker: ChannelStatusTracker;

  constructor(options: WebchatChannelOptions) {
    this.#options = options;
    this.#tracker = new ChannelStatusTracker('webchat', options.host);
  }

  status(): ChannelStatus {
    const status = this.#tracker.current;
    if (status.state !== 'running') return status;
    const n = this.#options.watchers();
    return {
      ...status,
      detail: `operator clients on the gateway socket; ${n} watching agent events`,
    };
  }

  async start(): Promise<void> {
    if (this.#options.enabled) this.#tracker.set('running');
    else this.#tracker.set('disabled', 'channels.webchat.enabled is false');
  }

  async stop(): Promise<void> {
    if (this.#tracker.current.state === 'running') this.#tracker.set('stopped');
  }

  async probe(): Promise<ProbeResult> {
    return this.#tracker.current.state === 'running'
      ? { ok: true }
      : { ok: false, error: this.#tracker.current.detail ?? 'stopped' };
  }

  deliveryBlocker(): string | undefined {
    return this.#tracker.current.state === 'running'
      ? undefined
      : 'the webchat channel is disabled (channels.webchat.enabled)';
  }

  peerProblem(to: string): string | undefined {
    return SessionId.safeParse(to).success
      ? undefined
      : `for webchat, "to" is a session id; "${to}" is not one`;
  }

  async deliver(to: string, text: string, meta: DeliveryMeta): Promise<{ messageId: string }> {
    const blocker = this.deliveryBlocker();
    if (blocker) throw new GatewayError('UNAVAILABLE', blocker);
    this.#options.publish({
      sessionId: meta.sessionId,
      channel: this.name,
      to,
      text,
      messageId: meta.messageId,
    });
    return { messageId: meta.messageId };
  }
}
