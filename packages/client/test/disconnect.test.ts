import { GatewayError, IDENTITY_HEADERS } from '@loopgate/protocol';
import { describe, expect, it } from 'vitest';
import {
  classifyClose,
  classifyConnectFailure,
  classifyHttpRejection,
  inFlightError,
  retryAfterFromReason,
} from '../src/disconnect.js';

const url = 'ws://127.0.0.1:18789';

function errno(code: string, message = code): Error {
  return Object.assign(new Error(message), { code });
}

describe('classifyConnectFailure', () => {
  it('says a refused connection means the gateway is not running, and retries', () => {
    const d = classifyConnectFailure(
      errno('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:18789'),
      url,
    );
    expect(d.final).toBe(false);
    expect(d.error.code).toBe('UNAVAILABLE');
    expect(d.error.message).toBe(
      'cannot connect to ws://127.0.0.1:18789: connection refused — is the gateway running? (loopgate gateway run)',
    );
    expect(d.error.details).toEqual({ reason: 'ECONNREFUSED' });
  });

  it('reads the code inside an AggregateError from a happy-eyeballs connect', () => {
    const aggregate = Object.assign(
      new AggregateError([errno('ECONNREFUSED'), errno('ECONNREFUSED')]),
      {},
    );
    expect(classifyConnectFailure(aggregate, url).error.details).toEqual({
      reason: 'ECONNREFUSED',
    });
  });

  it('names DNS, timeouts and unknown failures', () => {
    expect(classifyConnectFailure(errno('ENOTFOUND'), url).error.message).toMatch(
      /host not found$/,
    );
    const timeout = classifyConnectFailure(new Error('Opening handshake has timed out'), url);
    expect(timeout.final).toBe(false);
    expect(timeout.error.details).toEqual({ reason: 'ETIMEDOUT' });
    expect(classifyConnectFailure('weird', url).error.details).toEqual({ reason: 'ECONNFAILED' });
  });

  it('treats an untrusted certificate and a scheme mismatch as final', () => {
    const cert = classifyConnectFailure(errno('DEPTH_ZERO_SELF_SIGNED_CERT'), url);
    expect(cert).toMatchObject({ final: true, state: 'closed' });
    expect(cert.error.message).toMatch(/pin the gateway's certificate fingerprint/);
    expect(classifyConnectFailure(errno('EPROTO'), url)).toMatchObject({
      final: true,
      state: 'closed',
    });
  });

  it('passes a socket factory GatewayError through: a pin mismatch is final', () => {
    const pin = new GatewayError('TLS_PIN_MISMATCH', 'expected AA, presented BB');
    expect(classifyConnectFailure(pin, url)).toEqual({
      final: true,
      state: 'pin-mismatch',
      error: pin,
    });
    const tunnel = new GatewayError('TUNNEL_FAILED', 'ssh exited 255');
    expect(classifyConnectFailure(tunnel, url)).toEqual({ final: false, error: tunnel });
  });
});

describe('classifyClose', () => {
  it('is final for the credential close codes 4001, 4003 and 4010', () => {
    const unauthorized = classifyClose(4001, 'UNAUTHORIZED: invalid token', undefined, url);
    expect(unauthorized).toMatchObject({ final: true, state: 'unauthorized' });
    expect(unauthorized.error.code).toBe('UNAUTHORIZED');
    expect(unauthorized.error.message).toBe('invalid token');
    expect(classifyClose(4003, '', undefined, url).error.code).toBe('FORBIDDEN');
    const revoked = classifyClose(4010, '', undefined, url);
    expect(revoked).toMatchObject({ final: true, state: 'unauthorized' });
    expect(revoked.error.message).toMatch(/revoked/);
  });

  it('is final after an { id: null } credential error, whatever the close code (stock server: 1005)', () => {
    const said = new GatewayError('UNAUTHORIZED', 'invalid token');
    expect(classifyClose(1005, '', said, url)).toEqual({
      final: true,
      state: 'unauthorized',
      error: said,
    });
  });

  it('retries a rate limit no sooner than the gateway asks', () => {
    const d = classifyClose(
      4029,
      'RATE_LIMITED: too many failed attempts retryAfterMs=30000',
      undefined,
      url,
    );
    expect(d).toMatchObject({ final: false, retryAfterMs: 30_000 });
    expect(d.error.code).toBe('RATE_LIMITED');
    expect(d.error.message).toBe('too many failed attempts');
    expect(d.error.details).toEqual({ closeCode: 4029, retryAfterMs: 30_000 });
    const fromFrame = classifyClose(
      4029,
      '',
      new GatewayError('RATE_LIMITED', 'locked out', { details: { retryAfterMs: 1234 } }),
      url,
    );
    expect(fromFrame).toMatchObject({ final: false, retryAfterMs: 1234 });
  });

  it('retries ordinary drops, naming the close code', () => {
    const d = classifyClose(1006, '', undefined, url);
    expect(d.final).toBe(false);
    expect(d.error.code).toBe('UNAVAILABLE');
    expect(d.error.message).toBe('connection to ws://127.0.0.1:18789 lost (close code 1006)');
    expect(classifyClose(1001, 'gateway shutting down', undefined, url).error.message).toMatch(
      /: gateway shutting down$/,
    );
    expect(classifyClose(1009, '', undefined, url).error.code).toBe('PAYLOAD_TOO_LARGE');
    expect(
      classifyClose(1000, '', new GatewayError('BAD_REQUEST', 'malformed JSON frame'), url).final,
    ).toBe(false);
  });

  it('tells calls in flight they may or may not have run', () => {
    const d = classifyClose(1006, '', undefined, url);
    const e = inFlightError(d, url);
    expect(e.code).toBe('UNAVAILABLE');
    expect(e.message).toMatch(/may or may not have run/);
    const tooBig = classifyClose(1009, '', undefined, url);
    expect(inFlightError(tooBig, url).code).toBe('PAYLOAD_TOO_LARGE');
  });
});

describe('classifyHttpRejection', () => {
  it('maps 401 to unauthorized, 403/421 to a final refusal, 429 to a rate limit with Retry-After', () => {
    expect(classifyHttpRejection(401, {}, 'no', url)).toMatchObject({
      final: true,
      state: 'unauthorized',
    });
    const origin = classifyHttpRejection(403, {}, 'origin not allowed\nmore', url);
    expect(origin).toMatchObject({ final: true, state: 'closed' });
    expect(origin.error.message).toBe(
      'ws://127.0.0.1:18789 refused the connection (HTTP 403): origin not allowed',
    );
    expect(classifyHttpRejection(421, {}, '', url).error.code).toBe('FORBIDDEN');
    const limited = classifyHttpRejection(429, { 'retry-after': '3' }, 'slow down', url);
    expect(limited).toMatchObject({ final: false, retryAfterMs: 3_000 });
    expect(limited.error.code).toBe('RATE_LIMITED');
    expect(classifyHttpRejection(503, {}, 'gateway shutting down', url)).toMatchObject({
      final: false,
    });
  });

  it('names an HTTP server without the gateway identity header as not a gateway, instead of echoing its page', () => {
    const page = classifyHttpRejection(
      200,
      { 'content-type': 'text/html; charset=utf-8', server: 'nginx' },
      '<!DOCTYPE HTML><html>',
      url,
    );
    expect(page.final).toBe(false);
    expect(page.error.message).toBe(
      'cannot connect to ws://127.0.0.1:18789: an HTTP server answered (HTTP 200, text/html, server: nginx) but it is not a Loopgate gateway — check the host and port',
    );
    const gateway = classifyHttpRejection(
      503,
      { [IDENTITY_HEADERS.version]: '0.1.0' },
      'gateway shutting down',
      url,
    );
    expect(gateway.error.message).toBe(
      'cannot connect to ws://127.0.0.1:18789: HTTP 503: gateway shutting down',
    );
  });

  it('reads retryAfterMs from a reason in either style', () => {
    expect(retryAfterFromReason('RATE_LIMITED: x retryAfterMs=250')).toBe(250);
    expect(retryAfterFromReason('{"retryAfterMs": 900}')).toBe(900);
    expect(retryAfterFromReason('nothing here')).toBeUndefined();
  });
});
