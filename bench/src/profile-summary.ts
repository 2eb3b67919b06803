import { readFile } from 'node:fs/promises';
import { relative } from 'node:path';
import { REPO_ROOT } from './child.js';

/**
 * Summarises a `.cpuprofile` (from `pnpm bench --cpu-prof`): self time per
 * function and per package, so a change is kept only when the profile shows
 * the time it removes.
 *   tsx bench/src/profile-summary.ts bench/results/profiles/<file>.cpuprofile [top]
 */
type ProfileNode = {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
};
type Profile = {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
};

const [path, topArg] = process.argv.slice(2);
if (!path) {
  process.stderr.write('usage: profile-summary <file.cpuprofile> [top]\n');
  process.exit(2);
}
const top = Number(topArg ?? 40);
const profile = JSON.parse(await readFile(path, 'utf8')) as Profile;

const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const selfUs = new Map<number, number>();
for (let i = 0; i < profile.samples.length; i++) {
  const id = profile.samples[i]!;
  selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
}
const total = [...selfUs.values()].reduce((a, b) => a + b, 0);

function where(url: string): string {
  if (!url) return '(native)';
  const file = url.replace(/^file:\/\//, '');
  const pnpm = file.match(/node_modules\/\.pnpm\/[^/]+\/node_modules\/((?:@[^/]+\/)?[^/]+)\/(.*)$/);
  if (pnpm) return `${pnpm[1]}/${pnpm[2]}`;
  if (file.startsWith('node:')) return file;
  return relative(REPO_ROOT, file);
}

function pkg(url: string): string {
  const w = where(url);
  if (w.startsWith('node:') || w === '(native)')
    return w.startsWith('node:') ? 'node internals' : '(native)';
  const m = w.match(/^((?:@[^/]+\/)?[^/]+)/);
  return w.startsWith('packages/') || w.startsWith('bench/') || w.startsWith('apps/')
    ? w.split('/').slice(0, 2).join('/')
    : (m?.[1] ?? w);
}

const fnTotals = new Map<string, number>();
const pkgTotals = new Map<string, number>();
for (const [id, us] of selfUs) {
  const node = byId.get(id)!;
  const { functionName, url, lineNumber } = node.callFrame;
  const key = `${functionName || '(anonymous)'}  ${where(url)}:${lineNumber + 1}`;
  fnTotals.set(key, (fnTotals.get(key) ?? 0) + us);
  pkgTotals.set(pkg(url), (pkgTotals.get(pkg(url)) ?? 0) + us);
}

const pct = (us: number) => `${((100 * us) / total).toFixed(1).padStart(5)} %`;
process.stdout.write(`total sampled ${(total / 1000).toFixed(0)} ms\n\nby package:\n`);
for (const [name, us] of [...pkgTotals].sort((a, b) => b[1] - a[1]).slice(0, 20))
  process.stdout.write(`${pct(us)}  ${name}\n`);
process.stdout.write('\nby function (self):\n');
for (const [name, us] of [...fnTotals].sort((a, b) => b[1] - a[1]).slice(0, top))
  process.stdout.write(`${pct(us)}  ${name}\n`);

/** `--callers <name>`: the heaviest ancestor chains of a function, to see why it runs. */
const callersOf = process.argv.indexOf('--callers');
if (callersOf !== -1) {
  const wanted = process.argv[callersOf + 1]!;
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const inclusive = new Map<number, number>();
  for (const [id, us] of selfUs) {
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur))
      inclusive.set(cur, (inclusive.get(cur) ?? 0) + us);
  }
  const chains = new Map<string, number>();
  for (const n of profile.nodes) {
    if (n.callFrame.functionName !== wanted) continue;
    const names: string[] = [];
    for (
      let cur = parent.get(n.id), depth = 0;
      cur !== undefined && depth < 14;
      cur = parent.get(cur), depth++
    ) {
      const f = byId.get(cur)!.callFrame;
      names.push(
        `${f.functionName || '(anon)'}@${where(f.url).split('/').slice(-1)[0]}:${f.lineNumber + 1}`,
      );
    }
    const key = names.join(' < ');
    chains.set(key, (chains.get(key) ?? 0) + (inclusive.get(n.id) ?? 0));
  }
  process.stdout.write(`\ncallers of ${wanted}:\n`);
  for (const [chain, us] of [...chains].sort((a, b) => b[1] - a[1]).slice(0, 8))
    process.stdout.write(`${pct(us)}  ${chain}\n\n`);
}

/** `--inclusive`: functions by total time including what they call (each function counted once per stack). */
if (process.argv.includes('--inclusive')) {
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const totals = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const f = byId.get(cur)!.callFrame;
      const key = `${f.functionName || '(anonymous)'}  ${where(f.url)}:${f.lineNumber + 1}`;
      if (seen.has(key)) continue;
      seen.add(key);
      totals.set(key, (totals.get(key) ?? 0) + us);
    }
  }
  process.stdout.write('\nby function (inclusive):\n');
  for (const [name, us] of [...totals].sort((a, b) => b[1] - a[1]).slice(0, top))
    process.stdout.write(`${pct(us)}  ${name}\n`);
}
