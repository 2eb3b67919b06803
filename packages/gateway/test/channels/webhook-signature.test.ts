import { describe, expect, it } from 'vitest';
import { signWebhook, verifyWebhook } from '../../src/channels/index.js';

/**
 * The webhook signature check on its own, at its edges: exactly at the
 * tolerance is still accepted, one second past is not, a signature of the
 * wrong length is a plain refusal (never a throw from timingSafeEqual).
 */
const SECRET = 'webhook-secret-0123456789';
const NOW = 1_800_000_000;
const BODY = '{"text":"hi"}';

function check(timestampSec: number, signature = signWebhook(SECRET, timestampSec, BODY)) {
  return verifyWebhook(SECRET, { signature, timestamp: String(timestampSec) }, BODY, NOW);
}

describe('verifyWebhook', () => {
  it('accepts a correct signature and says what it accepted', () => {
    const signature = signWebhook(SECRET, NOW, BODY);
    expect(signature).toMatch(/^sha256=[0-9a-f]{64}$/);
    expect(check(NOW)).toEqual({ ok: true, signature, timestampSec: NOW });
  });

  it('accepts exactly 300 s behind and 30 s ahead, refuses one second more either way', () => {
    expect(check(NOW - 300).ok).toBe(true);
    expect(check(NOW - 301)).toEqual({
      ok: false,
      reason: 'x-loopgate-timestamp is more than 300 s behind the gateway clock',
    });
    expect(check(NOW + 30).ok).toBe(true);
    expect(check(NOW + 31)).toEqual({
      ok: false,
      reason: 'x-loopgate-timestamp is more than 30 s ahead of the gateway clock',
    });
  });

  it('refuses a signature of another length or another value, without throwing', () => {
    const refused = { ok: false, reason: 'signature does not match' };
    expect(check(NOW, 'sha256=ab')).toEqual(refused);
    expect(check(NOW, `${signWebhook(SECRET, NOW, BODY)}0`)).toEqual(refused);
    expect(check(NOW, signWebhook('another-secret', NOW, BODY))).toEqual(refused);
    // The timestamp is inside the MAC: the same body signed for another second does not pass.
    expect(check(NOW, signWebhook(SECRET, NOW - 1, BODY))).toEqual(refused);
  });

  it('names the missing header and refuses a timestamp that is not unix seconds', () => {
    const missing = {
      ok: false,
      reason: 'missing x-loopgate-signature or x-loopgate-timestamp header',
    };
    expect(verifyWebhook(SECRET, { signature: undefined, timestamp: '1' }, BODY, NOW)).toEqual(
      missing,
    );
    expect(verifyWebhook(SECRET, { signature: 'sha256=ab', timestamp: '' }, BODY, NOW)).toEqual(
      missing,
    );
    const notSeconds = { ok: false, reason: 'x-loopgate-timestamp must be unix seconds' };
    for (const timestamp of ['1.5', '-1', '1e9', '1234567890123', ' 1800000000'])
      expect(
        verifyWebhook(SECRET, { signature: 'sha256=ab', timestamp }, BODY, NOW),
        timestamp,
      ).toEqual(notSeconds);
  });
});
