import { createHmac, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_HEADER = 'x-loopgate-signature';
export const TIMESTAMP_HEADER = 'x-loopgate-timestamp';
/** A signed request older than this is refused, so a captured one cannot be replayed later. */
export const SIGNATURE_TOLERANCE_SEC = 300;
/**
 * How far ahead of the gateway clock a timestamp may be: clock skew only.
 * A timestamp far in the future would stretch the acceptance window (it
 * stays valid until it is 300 s old), so the replay guard would have to
 * remember it that much longer.
 */
export const SIGNATURE_MAX_FUTURE_SEC = 30;

/**
 * `sha256=<hex>` of HMAC-SHA256(secret, `<timestamp>.<raw body>`), the same
 * in both directions. Binding the timestamp into the MAC is what makes the
 * replay window enforceable.
 */
export function signWebhook(secret: string, timestampSec: number, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestampSec}.${body}`).digest('hex')}`;
}

export type SignatureCheck =
  | { ok: true; signature: string; timestampSec: number }
  | { ok: false; reason: string };

export function verifyWebhook(
  secret: string,
  headers: { signature: string | undefined; timestamp: string | undefined },
  body: string,
  nowSec: number,
): SignatureCheck {
  if (!headers.signature || !headers.timestamp) {
    return { ok: false, reason: `missing ${SIGNATURE_HEADER} or ${TIMESTAMP_HEADER} header` };
  }
  if (!/^\d{1,12}$/.test(headers.timestamp))
    return { ok: false, reason: `${TIMESTAMP_HEADER} must be unix seconds` };
  const timestamp = Number(headers.timestamp);
  if (nowSec - timestamp > SIGNATURE_TOLERANCE_SEC) {
    return {
      ok: false,
      reason: `${TIMESTAMP_HEADER} is more than ${SIGNATURE_TOLERANCE_SEC} s behind the gateway clock`,
    };
  }
  if (timestamp - nowSec > SIGNATURE_MAX_FUTURE_SEC) {
    return {
      ok: false,
      reason: `${TIMESTAMP_HEADER} is more than ${SIGNATURE_MAX_FUTURE_SEC} s ahead of the gateway clock`,
    };
  }
  const expected = Buffer.from(signWebhook(secret, timestamp, body));
  const presented = Buffer.from(headers.signature);
  if (expected.length !== presented.length || !timingSafeEqual(expected, presented)) {
    return { ok: false, reason: 'signature does not match' };
  }
  return { ok: true, signature: headers.signature, timestampSec: timestamp };
}
