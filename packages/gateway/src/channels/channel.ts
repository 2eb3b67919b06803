import type { ChannelStatus } from '@loopgate/protocol';

/** A message from a channel peer, on its way to that peer's session and the agent. */
export type InboundMessage = {
  peer: string;
  text: string;
  /** The channel's own id (Telegram update id, webhook message id): the same id is never run twice. */
  messageId: string;
};

export type InboundAccepted = { sessionId: string; runId: string; deduplicated: boolean };

export type DeliveryMeta = { messageId: string; sessionId: string; runId?: string | undefined };

export type ProbeResult = NonNullable<ChannelStatus['probe']>;

/**
 * One way messages reach people. A channel turns inbound traffic into
 * `InboundMessage`s (handed to the manager, which runs the agent) and
 * delivers outbound text. Problems — bad config, a rejected token, an
 * unreachable API — are reported through `status()`, never thrown out of
 * `start()`: one broken channel must not stop the gateway or the others.
 */
export interface Channel {
  readonly name: string;
  start(): Promise<void>;
  /** Stops receiving (polling ends, in-flight requests are aborted) and waits for that to finish. */
  stop(): Promise<void>;
  status(): ChannelStatus;
  /** A live check for `status --deep`. */
  probe(signal: AbortSignal): Promise<ProbeResult>;
  /**
   * Why nothing can be delivered right now (no credentials, stopped, no
   * outbound URL), or undefined when a delivery is worth trying — a passing
   * network error does not block one.
   */
  deliveryBlocker(): string | undefined;
  /** Why `to` cannot be a recipient on this channel (e.g. not a Telegram chat id), or undefined. */
  peerProblem(to: string): string | undefined;
  /** Sends `text` to `to`; resolves with the channel's id for the message. Rejects with a GatewayError. */
  deliver(to: string, text: string, meta: DeliveryMeta): Promise<{ messageId: string }>;
}

/** What a channel gets from the manager. */
export type ChannelHost = {
  onInbound(channel: string, message: InboundMessage): Promise<InboundAccepted>;
  /** Report a state change (emitted as a `channel.status` event when it differs from the last one). */
  onStatus(status: ChannelStatus): void;
};

/** Tracks a channel's state and reports changes once. */
export class ChannelStatusTracker {
  #status: ChannelStatus;

  constructor(
    readonly name: string,
    private readonly host: Pick<ChannelHost, 'onStatus'>,
  ) {
    this.#status = { name, state: 'stopped' };
  }

  get current(): ChannelStatus {
    return this.#status;
  }

  set(state: ChannelStatus['state'], detail?: string): void {
    if (this.#status.state === state && this.#status.detail === detail) return;
    this.#status = { name: this.name, state, ...(detail !== undefined ? { detail } : {}) };
    this.host.onStatus(this.#status);
  }
}
