import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as ws from 'ws';
import { textFrames } from '../src/transport/ws-internals.js';

type FrameOptions = {
  fin: boolean;
  opcode: number;
  mask: boolean;
  readOnly: boolean;
  rsv1: boolean;
};
/** `ws`'s own frame writer (a named export of `ws`, not in its type definitions). */
const { Sender } = ws as unknown as {
  Sender: { frame(data: Buffer, options: FrameOptions): Buffer[] };
};

/** What `ws` itself writes for `send(text)` from a server without compression. */
function wsTextFrame(text: string): Buffer {
  const parts = Sender.frame(Buffer.from(text, 'utf8'), {
    fin: true,
    opcode: 1,
    mask: false,
    readOnly: false,
    rsv1: false,
  });
  return Buffer.concat(parts);
}

describe('textFrames', () => {
  it('writes the bytes ws writes for each text, back to back', () => {
    fc.assert(
      fc.property(
        fc.array(fc.string({ unit: 'grapheme', maxLength: 300 }), { maxLength: 8 }),
        (texts) => {
          expect(textFrames(texts)).toEqual(Buffer.concat(texts.map(wsTextFrame)));
        },
      ),
    );
  });

  it('uses the 16-bit and 64-bit length forms at their edges', () => {
    const texts = [125, 126, 65_535, 65_536, 70_000].map((n) => 'x'.repeat(n));
    texts.push('é'.repeat(63), 'é'.repeat(32_768));
    expect(textFrames(texts)).toEqual(Buffer.concat(texts.map(wsTextFrame)));
  });
});
