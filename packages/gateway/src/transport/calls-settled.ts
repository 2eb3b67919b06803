/**
 * The wait of a connection the gateway is stopping, once it no longer runs
 * what its peer sends: first the frames produced just before (the stop's
 * event, answers) reach the socket, as they go out through microtasks and
 * nextTicks; then the calls still `running()` settle, for up to `graceMs`.
 * `onSettled` is handed the function to call once the last one has.
 */
export async function callsSettled(
  running: () => number,
  graceMs: number,
  onSettled: (settled: () => void) => void,
): Promise<void> {
  await new Promise((resolve) => setImmediate(resolve));
  if (running() === 0) return;
  await new Promise<void>((resolve) => {
    onSettled(resolve);
    setTimeout(resolve, graceMs).unref();
  });
}
