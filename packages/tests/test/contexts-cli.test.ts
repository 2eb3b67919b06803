import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTempDir, runCli, startTestGateway, type TestGateway } from '../src/index.js';

/* Named gateways: `contexts` in the client config, `loopgate context …`, and `--context` on client commands. */

describe('loopgate context and --context', () => {
  let home: TestGateway;
  let work: TestGateway;
  let clientDir: string;
  let env: NodeJS.ProcessEnv;
  let configPath: string;

  beforeAll(async () => {
    home = await startTestGateway();
    work = await startTestGateway();
    // The client's own state dir: no gateway token file here, so credentials can only come from the contexts.
    clientDir = await makeTempDir();
    configPath = join(clientDir, 'config.json5');
    await writeFile(join(clientDir, 'home.token'), `${home.token}\n`, { mode: 0o600 });
    await writeFile(
      configPath,
      JSON.stringify({
        contexts: {
          home: { url: home.url, tokenFile: 'home.token' },
          work: { url: work.url, tokenEnv: 'WORK_GATEWAY_TOKEN' },
        },
      }),
      { mode: 0o600 },
    );
    env = { LOOPGATE_STATE_DIR: clientDir, HOME: clientDir, WORK_GATEWAY_TOKEN: work.token };
  });
  afterAll(async () => {
    await home?.stop();
    await work?.stop();
  });

  it('list shows each context with where its secret lives, never the secret', async () => {
    const result = await runCli(['context', 'list'], { env });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain(`  home             ${home.url}  (token file home.token)`);
    expect(result.stdout).toContain(
      `  work             ${work.url}  (token from $WORK_GATEWAY_TOKEN)`,
    );
    expect(result.stdout).not.toContain(home.token);
    expect((await runCli(['context', 'current'], { env })).stdout).toMatch(/^none/);
  });

  it('use writes currentContext (keeping a backup); client commands then go there; --context overrides', async () => {
    const before = await readFile(configPath, 'utf8');
    const used = await runCli(['context', 'use', 'home'], { env });
    expect(used.code, used.stderr).toBe(0);
    expect(used.stdout).toContain('current context: home');
    expect(await readFile(`${configPath}.bak`, 'utf8')).toBe(before);
    expect(JSON.parse(await readFile(configPath, 'utf8')).currentContext).toBe('home');
    expect((await stat(configPath)).mode & 0o777).toBe(0o600);
    expect((await runCli(['context', 'current'], { env })).stdout.trim()).toBe('home');

    const status = await runCli(['status', '--json'], { env });
    expect(status.code, status.stderr).toBe(0);
    expect(JSON.parse(status.stdout).bind.port).toBe(home.port);

    const other = await runCli(['status', '--json', '--context', 'work'], { env });
    expect(other.code, other.stderr).toBe(0);
    expect(JSON.parse(other.stdout).bind.port).toBe(work.port);

    const probe = await runCli(['gateway', 'probe', '--context', 'work', '--json'], { env });
    expect(probe.code, probe.stdout).toBe(0);
    const auth = (
      JSON.parse(probe.stdout) as { steps: { step: string; detail: string }[] }
    ).steps.find((s) => s.step === 'auth');
    expect(auth?.detail).toContain("token from the context's tokenFile/tokenEnv");
  });

  it('an unknown context is a usage error naming the known ones (exit 2)', async () => {
    const result = await runCli(['health', '--context', 'nowhere'], { env });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('no context "nowhere"');
    expect(result.stderr).toContain('known: home, work');
    expect((await runCli(['context', 'use', 'nowhere'], { env })).code).toBe(2);
  });

  it('a secret written inline in a context is refused by the schema (exit 2)', async () => {
    const dir = await makeTempDir();
    await writeFile(
      join(dir, 'config.json5'),
      JSON.stringify({ contexts: { bad: { url: home.url, token: 'inline-secret-0123456789' } } }),
    );
    const result = await runCli(['health', '--context', 'bad'], {
      env: { LOOPGATE_STATE_DIR: dir, HOME: dir },
    });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('contexts.bad.token: unknown key');
    expect(result.stderr).not.toContain('inline-secret-0123456789');
  });
});
