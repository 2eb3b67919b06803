import { describe, it } from 'vitest';
import { inCI } from './ci.js';

/**
 * Whether a test that drives a real part of the machine must run, and what
 * happens when it cannot: the rule is in `ci.ts`; here are the two ways to
 * apply it, to a whole suite and to one test.
 */

export type RealPart = { available: true } | { available: false; reason: string };

function refusal(part: string, reason: string): Error {
  return new Error(`${part} is required under CI but cannot be set up here: ${reason}`);
}

/**
 * `describe` for a suite that needs `part`. When it is available this is
 * plain `describe`. When it is not: under CI the suite is one failing test
 * naming the part and the reason; elsewhere the suite is skipped and the
 * reason printed.
 */
export function describeWithRealPart(
  part: string,
  availability: RealPart,
): (name: string, body: () => void) => void {
  if (availability.available) return (name, body) => describe(name, body);
  const { reason } = availability;
  if (inCI()) {
    // One failing test in place of the suite. (A throwing beforeAll would
    // fail the file but count its tests as skipped, not failed.)
    return (name, body) =>
      describe(name, () => {
        it(`needs ${part}`, () => {
          throw refusal(part, reason);
        });
        void body;
      });
  }
  return (name, body) => {
    console.warn(`[skipped outside CI] "${name}" needs ${part}: ${reason}`);
    describe.skip(name, body);
  };
}

/**
 * The same rule inside one test, for a part probed at run time (a mount, an
 * interface): returns normally when available; otherwise throws under CI
 * and skips the test (with the reason as its note) elsewhere.
 */
export function requireRealPart(
  part: string,
  availability: RealPart,
  context: { skip: (note?: string) => never },
): void {
  if (availability.available) return;
  if (inCI()) throw refusal(part, availability.reason);
  console.warn(`[skipped outside CI] needs ${part}: ${availability.reason}`);
  context.skip(`needs ${part}: ${availability.reason}`);
}
