/**
 * Builds an error without capturing a stack trace. For refusals of a peer's
 * frame (bad JSON, bad input, a path it may not call): they go to the wire
 * as a code and a message and are never logged, so a stack would only be
 * work a peer can make the gateway do for every few bytes it sends.
 */
export function withoutStack<T>(build: () => T): T {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return build();
  } finally {
    Error.stackTraceLimit = limit;
  }
}
