import { describe, expect, it } from 'vitest';
import { type InboundAccepted, WebhookReplayGuard } from '../../src/channels/index.js';

const accepted = (runId: string): Promise<InboundAccepted> =>
  Promise.resolve({ sessionId: 's', runId, deduplicated: false });

describe('webhook replay guard', () => {
  it('row 33: the replay cache is bounded: when full of live signatures it refuses new ones (Retry-After) instead of forgetting one', async () => {
    const guard = new WebhookReplayGuard(3);
    const t0 = 1_700_000_000;
    for (const sig of ['a', 'b', 'c'])
      expect(guard.admit(sig, t0, t0 * 1000, () => accepted(sig)).kind).toBe('run');
    const full = guard.admit('d', t0, t0 * 1000 + 10_000, () => accepted('d'));
    expect(full).toEqual({ kind: 'full', retryAfterSec: 290 });
    expect(guard.size).toBe(3);
    // Every remembered signature is still a replay while the cache is full.
    expect(guard.admit('a', t0, t0 * 1000 + 10_000, () => accepted('x')).kind).toBe('replayed');
    // Once their timestamps leave the 300 s window they are dropped to make room.
    const later = (t0 + 301) * 1000;
    expect(guard.admit('d', t0 + 301, later, () => accepted('d')).kind).toBe('run');
    expect(guard.size).toBe(1);
  });

  it('row 33: a request that was not accepted is forgotten, so the sender may retry it as it is', async () => {
    const guard = new WebhookReplayGuard();
    const failed = guard.admit('sig', 1, 1_000, () => Promise.reject(new Error('limit')));
    await expect(failed.kind === 'full' ? undefined : failed.accepted).rejects.toThrow('limit');
    expect(guard.size).toBe(0);
    expect(guard.admit('sig', 1, 1_000, () => accepted('r')).kind).toBe('run');
  });
});
