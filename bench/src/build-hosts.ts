import { join } from 'node:path';
import { build } from 'esbuild';
import { nodeBundleOptions } from '../../apps/cli/scripts/node-bundle-options.mjs';
import { BENCH_DIR, REPO_ROOT } from './child.js';

export const HOSTS = [
  'gateway-host',
  'raw-server',
  'stock-trpc-server',
  'node-host',
  'cold-start-host',
  'loopgate-cli',
] as const;
export type HostName = (typeof HOSTS)[number];

/** Where a host's bundle lands (bench/dist is gitignored). */
export function hostBundlePath(name: HostName): string {
  return join(BENCH_DIR, 'dist', `${name}.mjs`);
}

export function hostSourcePath(name: HostName): string {
  // The whole `loopgate` CLI, for the cold-start and dashboard shapes.
  if (name === 'loopgate-cli') return join(REPO_ROOT, 'apps', 'cli', 'src', 'main.ts');
  return join(BENCH_DIR, 'src', 'hosts', `${name}.ts`);
}

let fromSource = false;

/** Run hosts from TypeScript source through tsx instead of their bundles (for profiling). */
export function runHostsFromSource(value: boolean): void {
  fromSource = value;
}

/** How to spawn a host: its bundle with plain node, or its source through tsx. */
export function hostEntry(name: HostName): { entry: string; prebuilt: boolean } {
  return fromSource
    ? { entry: hostSourcePath(name), prebuilt: false }
    : { entry: hostBundlePath(name), prebuilt: true };
}

/**
 * Bundles every process the bench spawns into one ESM file each, from the
 * workspace sources. The servers then run as plain `node` on plain
 * JavaScript — as a deployed gateway runs its `tsc` output — instead of
 * under tsx, whose esbuild transform adds a `__name()` call to every closure
 * created at run time (several per request on the gateway's hot path) and a
 * module-loader thread. `--from-source` keeps tsx (profiles then name files).
 */
export async function buildHosts(): Promise<{ ms: number; bytes: Record<HostName, number> }> {
  const started = performance.now();
  const result = await build({
    ...nodeBundleOptions,
    entryPoints: Object.fromEntries(HOSTS.map((name) => [name, hostSourcePath(name)])),
    outdir: join(BENCH_DIR, 'dist'),
    outExtension: { '.js': '.mjs' },
  });
  const bytes = {} as Record<HostName, number>;
  for (const [file, output] of Object.entries(result.metafile.outputs)) {
    const name = HOSTS.find((h) => file.endsWith(`${h}.mjs`));
    if (name) bytes[name] = output.bytes;
  }
  return { ms: performance.now() - started, bytes };
}
