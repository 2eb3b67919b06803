#!/usr/bin/env node
// The `loopgate` command (linked into node_modules/.bin by `pnpm install`).
// It runs the bundle the workspace's postinstall builds (dist/loopgate.mjs,
// see scripts/bundle.mjs). When a workspace source is newer than the bundle
// — a checkout that was edited or pulled — it rebuilds first (about a
// second, said on stderr), so the command never runs stale code.
import { readFileSync, statSync } from 'node:fs';

const entry = new URL('../dist/loopgate.mjs', import.meta.url);
const inputsFile = new URL('../dist/loopgate-inputs.json', import.meta.url);
const repoRoot = new URL('../../../', import.meta.url);

/** Why the bundle must be rebuilt, or undefined when it is current. */
function staleReason() {
  let builtAt;
  let inputs;
  try {
    builtAt = statSync(entry).mtimeMs;
    inputs = JSON.parse(readFileSync(inputsFile, 'utf8'));
  } catch {
    // no bundle yet (install ran with --ignore-scripts, or dist/ was removed)
    return 'no bundle yet';
  }
  for (const input of inputs) {
    let changedAt;
    try {
      changedAt = statSync(new URL(input, repoRoot)).mtimeMs;
    } catch {
      // a source file the bundle used is gone: the import graph changed
      return `${input} was removed`;
    }
    if (changedAt > builtAt) return `${input} changed`;
  }
  return undefined;
}

const reason = staleReason();
if (reason) {
  process.stderr.write(`loopgate: rebuilding apps/cli/dist (${reason}) …\n`);
  const { bundleCli, bundleLibraries } = await import('../scripts/bundle.mjs');
  // the libraries' dist/index.js (what a user's script runs) come from the same sources
  await Promise.all([bundleCli(), bundleLibraries()]);
}
await import(entry.href);
