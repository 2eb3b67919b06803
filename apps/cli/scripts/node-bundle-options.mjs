// The esbuild options every single-process bundle of workspace sources shares:
// the `loopgate` command (scripts/bundle.mjs, run at postinstall with nothing
// but node) and the bench's host processes (bench/src/build-hosts.ts). Plain
// JavaScript for the same reason as bundle.mjs; node-bundle-options.d.mts
// gives TypeScript callers its types.

/**
 * Ink loads React DevTools only when DEV=true, through a dynamic import of a
 * package that is not installed; the bundle gets an empty module instead.
 */
export const withoutDevtools = {
  name: 'without-react-devtools',
  setup(builder) {
    builder.onResolve({ filter: /^react-devtools-core$/ }, () => ({
      path: 'react-devtools-core',
      namespace: 'stub',
    }));
    builder.onLoad({ filter: /.*/, namespace: 'stub' }, () => ({
      contents: 'export default {};',
      loader: 'js',
    }));
  },
};

/** ESM for Node 20 from the workspace's TypeScript sources, ready to run with plain `node`. */
export const nodeBundleOptions = {
  bundle: true,
  // Whitespace-free parses faster (cold start); identifiers stay, so stack traces and CPU
  // profiles keep function names.
  minifyWhitespace: true,
  minifySyntax: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  conditions: ['@loopgate/source'],
  // A bundle is what users run, so React (the dashboard) gets its production
  // build; left to its run-time check it takes the development build, which
  // validates every element, wraps every fiber and is twice the code: the
  // dashboard's first frame came ~90 ms later. Tests run the sources, with
  // React's checks on.
  define: { 'process.env.NODE_ENV': '"production"' },
  // CommonJS dependencies bundled into ESM still `require` node builtins.
  banner: {
    js: "import { createRequire as __lgRequire } from 'node:module'; const require = __lgRequire(import.meta.url);",
  },
  logLevel: 'warning',
  metafile: true,
  plugins: [withoutDevtools],
};
