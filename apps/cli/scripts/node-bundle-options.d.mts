import type { BuildOptions, Plugin } from 'esbuild';

export declare const withoutDevtools: Plugin;
export declare const nodeBundleOptions: BuildOptions & { metafile: true };
