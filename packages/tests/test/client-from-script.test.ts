import { execFile } from 'node:child_process';
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTempDir, REPO_ROOT, startTestGateway, type TestGateway } from '../src/index.js';

const run = promisify(execFile);
const requireFromRoot = createRequire(join(REPO_ROOT, 'package.json'));
const TSC = requireFromRoot.resolve('typescript/bin/tsc');
const TSX = requireFromRoot.resolve('tsx');

/** The README's "Scripts: the typed client" recipe, verbatim: the first ts block of that section. */
async function readmeRecipe(): Promise<string> {
  const readme = await readFile(join(REPO_ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Scripts: the typed client'));
  const block = /```ts\n([\s\S]*?)```/.exec(section)?.[1];
  if (!block) throw new Error('README has no ts block under "Scripts: the typed client"');
  return block;
}

/**
 * A user's own package outside the workspace sources: `@loopgate/client`
 * linked in as pnpm links `workspace:*`, a plain nodenext tsconfig (no
 * customConditions), no `pnpm build`.
 */
async function outsidePackage(files: Record<string, string>): Promise<string> {
  const dir = await makeTempDir('loopgate-user-script-');
  await mkdir(join(dir, 'node_modules', '@loopgate'), { recursive: true });
  await mkdir(join(dir, 'node_modules', '@types'), { recursive: true });
  await symlink(join(REPO_ROOT, 'packages', 'client'), join(dir, 'node_modules/@loopgate/client'));
  await symlink(
    join(REPO_ROOT, 'node_modules', '@types', 'node'),
    join(dir, 'node_modules/@types/node'),
  );
  await writeFile(
    join(dir, 'package.json'),
    JSON.stringify({ name: 'my-script', type: 'module', private: true }),
  );
  await writeFile(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        target: 'ES2023',
        module: 'nodenext',
        moduleResolution: 'nodenext',
        strict: true,
        skipLibCheck: true,
        noEmit: true,
        types: ['node'],
      },
      include: ['*.ts'],
    }),
  );
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
  return dir;
}

async function typeCheck(dir: string): Promise<{ code: number; output: string }> {
  try {
    await run(process.execPath, [TSC, '-p', dir], { cwd: dir, timeout: 240_000 });
    return { code: 0, output: '' };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? 1, output: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

describe("the typed client from a user's own script (no build, no customConditions)", () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway();
  });
  afterAll(() => gw.stop());

  it('the README recipe type-checks with tsc --noEmit (its types are the real ones) and runs against a gateway', async () => {
    const dir = await outsidePackage({
      'script.ts': await readmeRecipe(),
      // the types are real, not any: a wrong use next to the recipe is the only error
      'wrong.ts': [
        "import { createGatewayClient } from '@loopgate/client';",
        'const gateway = createGatewayClient();',
        'const health = await gateway.health.query();',
        'const version: number = health.version;',
        'console.log(version);',
        '',
      ].join('\n'),
    });
    const checked = await typeCheck(dir);
    expect(checked.output.trim().split('\n')).toEqual([
      "wrong.ts(4,7): error TS2322: Type 'string' is not assignable to type 'number'.",
    ]);
    // plain Node conditions (no @loopgate/source): the dist/index.js pnpm install bundled
    const { stdout } = await run(process.execPath, ['--import', TSX, join(dir, 'script.ts')], {
      cwd: dir,
      timeout: 60_000,
      env: {
        ...process.env,
        LOOPGATE_STATE_DIR: gw.stateDir,
        LOOPGATE_GATEWAY_PORT: String(gw.port),
      },
    });
    expect(stdout).toContain('ok 0.1.0');
  }, 300_000);
});
