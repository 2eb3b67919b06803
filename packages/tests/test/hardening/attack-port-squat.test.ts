/**
 * Another local user's program on the gateway's port. While the gateway is
 * down (stopped, restarting, not started yet) any user may listen on its
 * loopback port, and a client that reads the token from its own state dir
 * used to hand it to whoever answered the upgrade. A real `loopgate health`
 * against a squatter running as uid 65534 (row 61 of docs/hardening.md).
 */
import type { ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
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

const SECRET = 'lg_victims-own-generated-gateway-token-0123456789';
const children: ChildProcess[] = [];
afterEach(() => killChildren(children));

/** A state dir of this user holding a generated token, and the env that points the CLI at `port`. */
async function victimEnv(port: number): Promise<NodeJS.ProcessEnv> {
  const root = await makeTempDir('loopgate-squat-');
  const stateDir = join(root, 'state');
  await mkdir(join(root, 'home'));
  await mkdir(stateDir, { mode: 0o700 });
  await writeFile(join(stateDir, 'gateway-token'), `${SECRET}\n`, { mode: 0o600 });
  return {
    HOME: join(root, 'home'),
    LOOPGATE_STATE_DIR: stateDir,
    LOOPGATE_GATEWAY_PORT: String(port),
  };
}

describe('row 61: a program of another user holding the gateway port', () => {
  it('row 61: loopgate health against another user’s listener on the gateway port sends no token and exits 3 naming its uid', async (context) => {
    requireRealPart(
      'root (to run the squatter as another user with setpriv)',
      process.getuid?.() === 0
        ? { available: true }
        : { available: false, reason: 'the tests do not run as root' },
      context,
    );
    const squatter = await startFrameRecorder(children, { uid: 65_534 });
    const result = await runCli(['health'], { env: await victimEnv(squatter.port) });
    expect(result.code, result.stderr).toBe(3);
    expect(result.stderr).toMatch(/runs as another user \(uid 65534\)/);
    // Nothing reached it: not the token, not a frame at all.
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(squatter.heard()).not.toContain(SECRET);
    expect(squatter.heard()).not.toContain('heard');
  });

  it('row 61: a listener of this same user is spoken to as before (the check tells users apart)', async () => {
    const squatter = await startFrameRecorder(children);
    // It never answers, so the CLI would wait; it is ended once the listener heard it.
    children.push(spawnCli(['health'], { env: await victimEnv(squatter.port) }));
    await waitFor(() => squatter.heard().includes(SECRET), {
      timeoutMs: 20_000,
      what: 'the connectionParams at a listener of this user',
    });
  });
});
