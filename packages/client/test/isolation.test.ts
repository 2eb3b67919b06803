import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
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
