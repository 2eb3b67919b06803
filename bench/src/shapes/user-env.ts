/**
 * The environment the user-path rows (CLI, dashboard, cold start) spawn
 * with: this process's, without NODE_EXTRA_CA_CERTS. Node reads and parses
 * that CA bundle as it starts, before any of Loopgate's code runs: on the
 * machine these rows were written on, which sets it for every process,
 * `node -e ''` took 94 ms with it and 34 without. The rows measure
 * Loopgate's commands as a stock machine runs them; `cliPath.nodeItself`
 * shows, in the same run, what a bare `node` costs with and without it.
 */
export function userPathEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const { NODE_EXTRA_CA_CERTS: _caBundle, ...env } = process.env;
  return { ...env, ...extra };
}
