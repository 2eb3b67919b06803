import type { ChannelStatus } from '@loopgate/protocol';
import type { ChannelHost, InboundAccepted, InboundMessage } from '../../src/channels/index.js';

/** A channel host that records what a channel reports, with bounded waits on it. */
export type Recorder = ChannelHost & {
  inbound: InboundMessage[];
  statuses: ChannelStatus[];
  waitForInbound(n: number): Promise<void>;
  waitForStatus(p: (s: ChannelStatus) => boolean): Promise<ChannelStatus>;
};

export function recorder(accept?: (message: InboundMessage) => Promise<InboundAccepted>): Recorder {
  const inbound: InboundMessage[] = [];
  const statuses: ChannelStatus[] = [];
  const waiters = new Set<() => void>();
  const notify = () => {
    for (const w of [...waiters]) w();
  };
  const until = <T>(check: () => T | undefined, what: string) =>
    new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        waiters.delete(tick);
        reject(new Error(`timed out waiting for ${what}`));
      }, 10_000);
      const tick = () => {
        const hit = check();
        if (hit === undefined) return;
        clearTimeout(timer);
        waiters.delete(tick);
        resolve(hit);
      };
      waiters.add(tick);
      tick();
    });
  return {
    inbound,
    statuses,
    onInbound: async (_channel, message) => {
      inbound.push(message);
      notify();
      return accept
        ? accept(message)
        : { sessionId: `s-${message.peer}`, runId: `run-${inbound.length}`, deduplicated: false };
    },
    onStatus: (status) => {
      statuses.push(status);
      notify();
    },
    waitForInbound: (n) =>
      until(() => (inbound.length >= n ? true : undefined), `${n} inbound messages`).then(() => {}),
    waitForStatus: (p) => until(() => statuses.find(p), 'a channel status'),
  };
}
