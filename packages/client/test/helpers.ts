import { GatewayError } from '@loopgate/protocol';
import { expect } from 'vitest';

/** The typed error a call rejected with; fails the test if it resolved or threw anything else. */
export async function rejectionOf(promise: Promise<unknown>): Promise<GatewayError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(GatewayError);
    return error as GatewayError;
  }
  throw new Error('expected the call to fail with a GatewayError');
}
