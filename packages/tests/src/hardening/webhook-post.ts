import { createHmac } from 'node:crypto';

export type SignedWebhookPost = {
  port: number;
  path: string;
  secret: string;
  body: string;
  /** Defaults to now. */
  timestampSec?: number;
};

/**
 * A POST to the gateway's webhook path, signed as a sender holding the secret
 * signs it (HMAC-SHA256 over `timestamp.body`, computed here rather than with
 * the gateway's own code): the status and the JSON body it was answered with.
 */
export async function postSignedWebhook(
  post: SignedWebhookPost,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const timestampSec = post.timestampSec ?? Math.floor(Date.now() / 1000);
  const mac = createHmac('sha256', post.secret).update(`${timestampSec}.${post.body}`);
  const res = await fetch(`http://127.0.0.1:${post.port}${post.path}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-loopgate-timestamp': String(timestampSec),
      'x-loopgate-signature': `sha256=${mac.digest('hex')}`,
    },
    body: post.body,
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}
