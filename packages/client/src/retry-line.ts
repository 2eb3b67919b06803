/**
 * The one line every retrying client prints (node host, dashboard, `loopgate
 * tunnel`): what it dials, why the last attempt failed, when and how often it
 * tries again — `connecting to ws://…: connection refused — retrying in 2.0 s (attempt 3)`.
 */
export type RetryLineInput = {
  /** What is being dialled, as an operator would type it (`ws://127.0.0.1:18789`, `ssh://ops@gw`). */
  target: string;
  /** Why the last attempt failed; a message that already names the target is not repeated. */
  reason: string | undefined;
  retryInMs: number;
  attempt: number;
};

export function formatRetryLine(input: RetryLineInput): string {
  return `${retryReason(input.target, input.reason)} — retrying in ${formatRetryDelay(input.retryInMs)} (attempt ${input.attempt})`;
}

/** `connecting to ws://…: connection refused`, whatever words the failure came with. */
function retryReason(target: string, reason: string | undefined): string {
  const message = reason ?? 'connection lost';
  const prefix = `cannot connect to ${target}: `;
  const why = message.startsWith(prefix) ? message.slice(prefix.length) : message;
  // the hint after the dash ("is the gateway running?") would repeat on every line
  return `connecting to ${target}: ${why.split(' — ')[0]}`;
}

export function formatRetryDelay(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;
}
