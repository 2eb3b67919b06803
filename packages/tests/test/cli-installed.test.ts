import { statSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { HealthOutput, LOOPGATE_VERSION } from '@loopgate/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, runCli, startTestGateway, type TestGateway } from '../src/index.js';

const BUNDLE = join(REPO_ROOT, 'apps/cli/dist/loopgate.mjs');

describe('the installed `loopgate` command (node_modules/.bin, the bundle pnpm install builds)', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway();
  });
  afterAll(() => gw.stop());

  it('answers --version with the version alone on stdout', async () => {
    const result = await runCli(['--version'], { installed: true });
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(`${LOOPGATE_VERSION}\n`);
  });

  it('health --json is pipe-clean: stdout is the schema-valid result and nothing else', async () => {
    const result = await runCli(['health', '--json', '--url', gw.url], {
      installed: true,
      env: { LOOPGATE_STATE_DIR: gw.stateDir },
    });
    expect(result.code).toBe(0);
    expect(HealthOutput.parse(JSON.parse(result.stdout)).ok).toBe(true);
  });

  it('rebuilds a bundle older than the sources it was built from, saying so on stderr', async () => {
    utimesSync(BUNDLE, new Date(0), new Date(0));
    const result = await runCli(['--version'], { installed: true });
    expect(result.code).toBe(0);
    expect(result.stderr).toMatch(/loopgate: rebuilding apps\/cli\/dist \(.+ changed\)/);
    expect(result.stdout).toBe(`${LOOPGATE_VERSION}\n`);
    expect(statSync(BUNDLE).mtimeMs).toBeGreaterThan(Date.now() - 60_000);
  });
});
