/**
 * A state dir or config file another local user may write, read by a
 * client. The config names the gateway and the files whose contents go to it
 * as credentials, so whoever may write it can point `loopgate` at their own
 * server and have it send this user's secret there; the state dir holds the
 * gateway token and a node's key. The real CLI against a listener that
 * prints every frame it hears (row 64 of docs/hardening.md).
 */
import type { ChildProcess } from 'node:child_process';
import { chmod, chown, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startFrameRecorder } from '../../src/hardening/index.js';
import {
  killChildren,
  makeTempDir,
  requireRealPart,
  runCli,
  spawnCli,
  waitFor,
} from '../../src/index.js';

const SECRET = 'lg_the-victims-own-secret-0123456789abcdef';
const children: ChildProcess[] = [];
afterEach(() => killChildren(children));

/**
 * A home holding the victim's secret, and a state dir with a config the
 * intruder planted: their server as the remote gateway, the secret as its token.
 */
async function plantedSetup(url: string): Promise<{ stateDir: string; env: NodeJS.ProcessEnv }> {
  const root = await makeTempDir('loopgate-planted-config-');
  const home = join(root, 'home');
  const stateDir = join(root, 'state');
  await mkdir(home, { mode: 0o700 });
  await mkdir(stateDir, { mode: 0o700 });
  await writeFile(join(home, 'secret.txt'), `${SECRET}\n`, { mode: 0o600 });
  const config = {
    gateway: { mode: 'remote', remote: { url, tokenFile: join(home, 'secret.txt') } },
  };
  await writeFile(join(stateDir, 'config.json5'), JSON.stringify(config), { mode: 0o600 });
  return { stateDir, env: { HOME: home, LOOPGATE_STATE_DIR: stateDir } };
}

/** Gives the CLI time to have sent something, then checks nothing reached the intruder. */
async function expectNothingHeard(server: { heard: () => string }): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 300));
  expect(server.heard()).not.toContain(SECRET);
  expect(server.heard()).not.toMatch(/upgrade|heard/);
}

describe('row 64: a client reading settings another local user may write', () => {
  it('row 64: a planted config in a state dir every user may write sends no secret: exit 2 naming the dir and the chmod', async () => {
    const server = await startFrameRecorder(children);
    const { stateDir, env } = await plantedSetup(server.url);
    await chmod(stateDir, 0o777);
    const result = await runCli(['health'], { env });
    expect(result.code, result.stderr).toBe(2);
    expect(result.stderr).toContain(`${stateDir} is writable by other users (mode 0777)`);
    expect(result.stderr).toContain(`chmod 700 ${stateDir}`);
    await expectNothingHeard(server);
  });

  it('row 64: a config file other users may write (mode 0666), named by LOOPGATE_CONFIG, is refused too', async () => {
    const server = await startFrameRecorder(children);
    const { stateDir, env } = await plantedSetup(server.url);
    const config = join(stateDir, 'config.json5');
    await chmod(config, 0o666);
    const result = await runCli(['health', '--json'], { env: { ...env, LOOPGATE_CONFIG: config } });
    expect(result.code, result.stderr).toBe(2);
    expect(result.stdout + result.stderr).toContain('is writable by other users (mode 0666)');
    await expectNothingHeard(server);
  });

  it('row 64: a state dir that belongs to another user is refused, also by loopgate node run', async (context) => {
    requireRealPart(
      'root (to hand the state dir to another user with chown)',
      process.getuid?.() === 0
        ? { available: true }
        : { available: false, reason: 'the tests do not run as root' },
      context,
    );
    const server = await startFrameRecorder(children);
    const { stateDir, env } = await plantedSetup(server.url);
    await chown(stateDir, 65_534, 65_534);
    const health = await runCli(['health'], { env });
    expect(health.code, health.stderr).toBe(2);
    expect(health.stderr).toContain(`${stateDir} belongs to uid 65534`);
    // A node would pair with the intruder's gateway under the key they planted.
    const node = await runCli(['node', 'run', '--name', 'victim-node'], { env, timeoutMs: 20_000 });
    expect(node.code, node.stderr).toBe(2);
    expect(node.stderr).toContain(`state dir ${stateDir} belongs to uid 65534`);
    await expectNothingHeard(server);
  });

  it('row 64: the same planted config in a private state dir is followed (the check tells the modes apart)', async () => {
    const server = await startFrameRecorder(children);
    const { env } = await plantedSetup(server.url);
    // The listener never answers, so the CLI would wait; it is ended once the listener heard it.
    children.push(spawnCli(['health'], { env }));
    await waitFor(() => server.heard().includes(SECRET), {
      timeoutMs: 20_000,
      what: 'the token file named by a config of this user, at the server it names',
    });
  });
});
