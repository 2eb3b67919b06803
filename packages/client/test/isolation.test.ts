import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const here = dirname(fileURLToPath(import.meta.url));
const clientDir = join(here, '..');

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'loopgate-isolation-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Every module URL a fresh Node process resolves while running `code` (from the client package). */
async function modulesLoadedBy(code: string, name: string): Promise<string[]> {
  const log = join(dir, `${name}.log`);
  await run(
    process.execPath,
    [
      '--conditions=@loopgate/source',
      '--import',
      'tsx',
      '--import',
      join(here, 'fixtures', 'record-modules.mjs'),
      '--input-type=module',
      '-e',
      code,
    ],
    { cwd: clientDir, env: { ...process.env, LOOPGATE_MODULE_LOG: log }, timeout: 30_000 },
  );
  return (await readFile(log, 'utf8')).split('\n').filter(Boolean);
}

describe('package boundary', () => {
  it('importing @loopgate/client loads no module of packages/gateway', async () => {
    const urls = await modulesLoadedBy("await import('@loopgate/client');", 'client');
    // The recorder really sees the client's own sources...
    expect(urls.some((u) => u.endsWith('/packages/client/src/index.ts'))).toBe(true);
    expect(urls.some((u) => u.endsWith('/packages/client/src/transport.ts'))).toBe(true);
    // ...and nothing of the gateway.
    expect(urls.filter((u) => u.includes('/packages/gateway/'))).toEqual([]);
  });

  it('the recorder does notice gateway modules when they are loaded (control)', async () => {
    const urls = await modulesLoadedBy(
      "await import('@loopgate/gateway').catch(() => {});",
      'control',
    );
    expect(urls.some((u) => u.includes('/packages/gateway/src/'))).toBe(true);
  });
});

describe('the client depends on the gateway for types only', () => {
  it('installing @loopgate/client does not install the gateway: it is a dev and optional peer dependency', async () => {
    const manifest = JSON.parse(await readFile(join(clientDir, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
      devDependencies: Record<string, string>;
      peerDependenciesMeta: Record<string, { optional?: boolean }>;
    };
    expect(Object.keys(manifest.dependencies)).not.toContain('@loopgate/gateway');
    expect(Object.keys(manifest.devDependencies)).toContain('@loopgate/gateway');
    expect(manifest.peerDependenciesMeta['@loopgate/gateway']?.optional).toBe(true);
  });

  it('every mention of @loopgate/gateway in the client sources is `import type` or `export type`', async () => {
    const src = join(clientDir, 'src');
    const files = (await readdir(src, { recursive: true })).filter((f) => /\.tsx?$/.test(f));
    const mentions: string[] = [];
    for (const file of files) {
      const text = await readFile(join(src, file), 'utf8');
      for (const line of text.split('\n')) {
        if (/from '@loopgate\/gateway'|import\('@loopgate\/gateway'\)/.test(line))
          mentions.push(`${file}: ${line.trim()}`);
      }
    }
    expect(mentions.length, 'the client does use the router type').toBeGreaterThan(0);
    expect(mentions.filter((m) => !/: (import|export) type /.test(m))).toEqual([]);
  });

  it('a bundle of the client (workspace packages inlined) holds no gateway source', async () => {
    const result = await build({
      entryPoints: [join(clientDir, 'src', 'index.ts')],
      bundle: true,
      write: false,
      metafile: true,
      platform: 'node',
      format: 'esm',
      conditions: ['@loopgate/source'],
      // npm packages stay imports; the workspace's own packages are bundled from source.
      external: ['@trpc/*', 'ws', 'superjson', 'json5', 'zod'],
      logLevel: 'silent',
    });
    const inputs = Object.keys(result.metafile.inputs);
    expect(inputs.some((p) => p.includes('packages/protocol/src/'))).toBe(true);
    expect(inputs.filter((p) => p.includes('packages/gateway/'))).toEqual([]);
    const imports = Object.values(result.metafile.outputs).flatMap((o) => o.imports);
    expect(imports.filter((i) => i.path.startsWith('@loopgate/gateway'))).toEqual([]);
  });
});
