import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  allowlistOf,
  planUpdates,
  retryDelayMs,
  signWebhook,
  splitMessage,
  verifyWebhook,
} from '../../src/channels/index.js';

const update = (id: number, chatId: number, text?: string, username?: string) => ({
  update_id: id,
  message: {
    message_id: id,
    date: 0,
    chat: { id: chatId, type: 'private', ...(username ? { username } : {}) },
    ...(text !== undefined ? { text } : {}),
  },
});

describe('planUpdates', () => {
  const allowed = allowlistOf([42, '-100', '@Alice']);

  it('keeps allowed text messages in order and advances the offset past everything seen', () => {
    const plan = planUpdates(
      [
        update(12, 42, 'second'),
        update(11, 42, 'first'),
        update(13, 7, 'stranger'),
        update(14, -100),
      ],
      10,
      allowed,
    );
    expect(plan.messages).toEqual([
      { peer: '42', text: 'first', messageId: '11' },
      { peer: '42', text: 'second', messageId: '12' },
    ]);
    expect(plan.nextOffset).toBe(15);
    expect(plan.refusedChats).toEqual(['7']);
    expect(plan.skipped).toBe(1);
  });

  it('drops updates below the stored offset (already handled before a restart)', () => {
    const plan = planUpdates([update(9, 42, 'old'), update(10, 42, 'new')], 10, allowed);
    expect(plan.messages.map((m) => m.text)).toEqual(['new']);
    expect(plan.nextOffset).toBe(11);
    expect(planUpdates([update(9, 42, 'old')], 10, allowed)).toMatchObject({
      messages: [],
      nextOffset: 10,
    });
  });

  it('matches @usernames case-insensitively, and an empty allowlist lets nobody in', () => {
    expect(planUpdates([update(1, 555, 'hi', 'alice')], undefined, allowed).messages).toHaveLength(
      1,
    );
    expect(planUpdates([update(1, 42, 'hi')], undefined, new Set()).messages).toHaveLength(0);
  });

  it('never acts on an update twice however batches overlap', () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(fc.integer({ min: 1, max: 30 }), { maxLength: 8 }), { maxLength: 10 }),
        (batches) => {
          let offset: number | undefined;
          const seen: string[] = [];
          for (const ids of batches) {
            const plan = planUpdates(
              ids.map((id) => update(id, 42, `m${id}`)),
              offset,
              allowed,
            );
            seen.push(...plan.messages.map((m) => m.messageId));
            offset = plan.nextOffset;
          }
          expect(new Set(seen).size).toBe(seen.length);
        },
      ),
    );
  });
});

describe('splitMessage', () => {
  it('leaves short text alone and splits long text at line breaks under the limit', () => {
    expect(splitMessage('hello')).toEqual(['hello']);
    const long = `${'a'.repeat(3000)}\n${'b'.repeat(3000)}`;
    expect(splitMessage(long)).toEqual(['a'.repeat(3000), 'b'.repeat(3000)]);
    const solid = 'x'.repeat(9000);
    const parts = splitMessage(solid);
    expect(parts.every((p) => p.length <= 4096)).toBe(true);
    expect(parts.join('')).toBe(solid);
  });
});

describe('retryDelayMs', () => {
  it('grows exponentially, is capped, and is jittered within [ceiling/2, ceiling]', () => {
    const opts = { baseMs: 1000, maxMs: 30_000 };
    expect(retryDelayMs(0, opts, () => 0)).toBe(500);
    expect(retryDelayMs(0, opts, () => 1)).toBe(1000);
    expect(retryDelayMs(3, opts, () => 1)).toBe(8000);
    expect(retryDelayMs(50, opts, () => 1)).toBe(30_000);
    expect(retryDelayMs(50, opts, () => 0)).toBe(15_000);
  });
});

describe('webhook signatures', () => {
  const secret = 'a-very-secret-webhook-key';
  const body = '{"from":"alice","text":"hi"}';

  it('accepts its own signature and refuses tampering, another secret, or a missing header', () => {
    const sig = signWebhook(secret, 1_700_000_000, body);
    expect(sig).toMatch(/^sha256=[0-9a-f]{64}$/);
    const now = 1_700_000_010;
    expect(verifyWebhook(secret, { signature: sig, timestamp: '1700000000' }, body, now)).toEqual({
      ok: true,
      signature: sig,
      timestampSec: 1_700_000_000,
    });
    expect(
      verifyWebhook(secret, { signature: sig, timestamp: '1700000000' }, `${body} `, now),
    ).toEqual({ ok: false, reason: 'signature does not match' });
    expect(
      verifyWebhook(
        'another-secret-entirely',
        { signature: sig, timestamp: '1700000000' },
        body,
        now,
      ).ok,
    ).toBe(false);
    // the timestamp is part of what is signed
    expect(verifyWebhook(secret, { signature: sig, timestamp: '1700000001' }, body, now).ok).toBe(
      false,
    );
    expect(
      verifyWebhook(secret, { signature: undefined, timestamp: '1700000000' }, body, now),
    ).toMatchObject({ ok: false, reason: expect.stringContaining('missing') });
  });

  it('refuses requests outside the replay window', () => {
    const sig = signWebhook(secret, 1_700_000_000, body);
    expect(
      verifyWebhook(secret, { signature: sig, timestamp: '1700000000' }, body, 1_700_000_000 + 301),
    ).toMatchObject({
      ok: false,
      reason: expect.stringContaining('300 s behind'),
    });
    expect(
      verifyWebhook(secret, { signature: sig, timestamp: 'yesterday' }, body, 1_700_000_000).ok,
    ).toBe(false);
  });
});
