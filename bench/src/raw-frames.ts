/**
 * Raw-ws baseline frames: minimal JSON messages padded to exactly the byte
 * sizes measured on the Loopgate wire, so the baseline pays the same
 * framing, copying, UTF-8 validation and JSON parsing per byte and only
 * skips what Loopgate adds (routing, validation, transformer, auth context).
 */
const pads = new Map<number, string>();

function pad(length: number): string {
  let p = pads.get(length);
  if (p === undefined) {
    p = 'x'.repeat(Math.max(0, length));
    pads.set(length, p);
  }
  return p;
}

/** `{"id":<id>,"p":"xxx…"}` of exactly `bytes` bytes (ASCII, so chars = bytes). */
export function rawFrame(id: number, bytes: number): string {
  const head = `{"id":${id},"p":"`;
  return `${head}${pad(bytes - head.length - 2)}"}`;
}

/** The smallest frame `rawFrame` can build for ids up to `maxId`. */
export function minRawFrameBytes(maxId: number): number {
  return `{"id":${maxId},"p":""}`.length;
}
