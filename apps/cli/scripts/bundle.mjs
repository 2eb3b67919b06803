// Builds the `loopgate` command: apps/cli/src/main.ts and the workspace
// sources it imports, bundled by esbuild into dist/loopgate.mjs plus lazily
// loaded chunks (dist/chunks/). The workspace's postinstall runs it (≈1 s),
// so the command is fast right after `pnpm install` with no `tsc -b` step
// (tens of seconds on two cores) and no tsx at run time (its loader thread
// and per-file transforms cost seconds per call). Code splitting keeps
// `--version` and `health` from parsing the gateway and the dashboard
// (Ink, React), which commands import only when they run them.
// Plain JavaScript, not TypeScript: it runs before anything could compile it.
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { nodeBundleOptions } from './node-bundle-options.mjs';

const CLI_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const REPO_ROOT = resolve(CLI_DIR, '../..');
export const DIST_DIR = join(CLI_DIR, 'dist');
/** The workspace sources the bundle was built from, for the bin's staleness check. */
export const INPUTS_FILE = join(DIST_DIR, 'loopgate-inputs.json');

/**
 * Writes every output through a temp file and a rename, chunks before the
 * entry: a `loopgate` started while another rebuilds reads either the old
 * entry (whose chunks are still there, names being content hashes) or the
 * complete new one, never a torn file.
 */
async function writeOutputs(outputFiles) {
  const entry = join(DIST_DIR, 'loopgate.mjs');
  const ordered = [...outputFiles].sort((a, b) => (a.path === entry) - (b.path === entry));
  for (const file of ordered) {
    await mkdir(dirname(file.path), { recursive: true });
    const temp = `${file.path}.${process.pid}.tmp`;
    await writeFile(temp, file.contents);
    await rename(temp, file.path);
  }
}

/** Bundles the CLI; returns the build time and the entry's size. */
export async function bundleCli() {
  const started = performance.now();
  const result = await build({
    ...nodeBundleOptions,
    absWorkingDir: REPO_ROOT,
    entryPoints: { loopgate: join(CLI_DIR, 'src', 'main.ts') },
    outdir: DIST_DIR,
    outExtension: { '.js': '.mjs' },
    chunkNames: 'chunks/[name]-[hash]',
    splitting: true,
    write: false,
  });
  await writeOutputs(result.outputFiles);
  const inputs = Object.keys(result.metafile.inputs)
    .filter((path) => !path.includes('node_modules') && !path.startsWith('stub:'))
    .map((path) => relative(REPO_ROOT, resolve(REPO_ROOT, path)));
  await writeFile(INPUTS_FILE, `${JSON.stringify(inputs)}\n`);
  const entryBytes = result.outputFiles.find((f) => f.path.endsWith('loopgate.mjs'))?.contents
    .length;
  return { ms: Math.round(performance.now() - started), entryBytes, inputs: inputs.length };
}

/**
 * The workspace libraries a user's own script imports at run time
 * (`@loopgate/client`, `/protocol`, `/node`, `/gateway`): each package's
 * `dist/index.js`, what its `exports` name for plain Node. One file per
 * package with every package import left external, so the libraries share
 * one `GatewayError` class as they do from source; types come from `src`
 * (the `types` condition), so a script type-checks without `pnpm build`.
 * `tsc -b` writes the same file later, equivalent.
 */
const LIBRARIES = ['protocol', 'client', 'node', 'gateway'];

export async function bundleLibraries() {
  await Promise.all(
    LIBRARIES.map((name) => {
      const dir = join(REPO_ROOT, 'packages', name);
      return build({
        absWorkingDir: REPO_ROOT,
        entryPoints: [join(dir, 'src', 'index.ts')],
        outfile: join(dir, 'dist', 'index.js'),
        bundle: true,
        packages: 'external',
        platform: 'node',
        format: 'esm',
        target: 'node20',
        sourcemap: true,
        logLevel: 'warning',
      });
    }),
  );
}

/** Removes chunks no longer referenced (only from an explicit build: a running CLI may still load old ones). */
export async function cleanDist() {
  await rm(join(DIST_DIR, 'chunks'), { recursive: true, force: true });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await cleanDist();
  const started = performance.now();
  const [{ inputs }] = await Promise.all([bundleCli(), bundleLibraries()]);
  process.stderr.write(
    `loopgate: built apps/cli/dist/loopgate.mjs from ${inputs} workspace sources, and packages/{${LIBRARIES.join(',')}}/dist/index.js, in ${Math.round(performance.now() - started)} ms\n`,
  );
}
