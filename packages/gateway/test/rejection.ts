import { GatewayError } from '@loopgate/protocol';
import { expect } from 'vitest';

/** The typed error a call rejected with; fails the test if it resolved or threw anything else. */
export async function rejection(promise: Promise<unknown>): Promise<GatewayError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(GatewayError);
    return error as GatewayError;
  }
  throw new Error('expected the call to fail with a GatewayError');
}

/** The typed error a synchronous call threw; fails the test if it returned or threw anything else. */
export function thrown(fn: () => unknown): GatewayError {
  try {
    fn();
  } catch (error) {
    if (error instanceof GatewayError) return error;
    throw error;
  }
  throw new Error('expected a GatewayError');
}
