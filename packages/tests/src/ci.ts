/**
 * One rule for every test that drives a real part of the machine (sshd, tmux,
 * a tmpfs, a non-loopback interface, ...): whether it must run, and what
 * happens when it cannot.
 *
 * - Under CI the part must be there: a test that cannot set it up FAILS,
 *   naming the reason. A suite that silently skips or weakens there would
 *   report green without having checked anything.
 * - Outside CI (a developer's laptop without tmux, say) it is skipped, and
 *   the reason is printed, so the skip is never silent.
 *
 * CI is read one way everywhere, here: `CI` set to anything other than the
 * empty string, `false` or `0` (any case) means CI. CI providers set
 * `CI=true`, some `CI=1`; `CI=false` is how a developer turns it off.
 */
export function inCI(env: NodeJS.ProcessEnv = process.env): boolean {
  const value = env.CI?.trim().toLowerCase();
  return value !== undefined && value !== '' && value !== 'false' && value !== '0';
}
