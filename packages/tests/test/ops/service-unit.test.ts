import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { readStateLock } from '@loopgate/gateway';
import { profilePort } from '@loopgate/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import {
  killLockHolders,
  makeTempDir,
  type RealPart,
  requireRealPart,
  runCli,
  waitForOutput,
} from '../../src/index.js';

const dirs: string[] = [];
const stateDirs: string[] = [];

afterEach(async () => {
  await killLockHolders(stateDirs.splice(0));
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

function systemdAnalyze(): RealPart {
  const probe = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' });
  return probe.error || probe.status !== 0
    ? { available: false, reason: `systemd-analyze: ${probe.error?.message ?? probe.stderr}` }
    : { available: true };
}

/** The words of an ExecStart line as systemd reads them (double quotes, \\ \" %% $$). */
function execStartWords(line: string): string[] {
  const words: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"/g;
  for (let m = re.exec(line); m; m = re.exec(line)) {
    words.push(m[1]!.replace(/\\(.)/g, '$1').replace(/%%/g, '%').replace(/\$\$/g, '$'));
  }
  return words;
}

describe('gateway install | uninstall: a systemd user unit per profile', () => {
  it("writes a unit that systemd-analyze verifies and that runs this profile's gateway; uninstall removes it", async (context) => {
    requireRealPart('systemd-analyze', systemdAnalyze(), context);
    const root = await makeTempDir('loopgate-unit-');
    dirs.push(root);
    // A % and a $ in the base dir: systemd would expand both unless escaped.
    const base = join(root, 'state %h $HOME');
    const env = {
      HOME: join(root, 'home'),
      XDG_CONFIG_HOME: join(root, 'xdg'),
      LOOPGATE_STATE_DIR: base,
    };
    await mkdir(env.HOME);
    const profile = `unit-${randomBytes(3).toString('hex')}`;
    const name = `loopgate-gateway-${profile}.service`;
    const path = join(root, 'xdg', 'systemd', 'user', name);

    const installed = await runCli(['--profile', profile, 'gateway', 'install', '--no-enable'], {
      env,
    });
    expect(installed.code, installed.stderr).toBe(0);
    expect(installed.stdout).toContain(`wrote ${path}`);
    expect(installed.stdout).toContain(`systemctl --user enable --now ${name}`);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    const unit = await readFile(path, 'utf8');
    const verify = spawnSync('systemd-analyze', ['verify', path], { encoding: 'utf8' });
    expect({ status: verify.status, stderr: verify.stderr.trim() }).toEqual({
      status: 0,
      stderr: '',
    });
    const fields = Object.fromEntries(
      unit
        .split('\n')
        .filter((l) => l.includes('='))
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
    expect(fields).toMatchObject({
      Description: `Loopgate gateway (profile ${profile})`,
      Type: 'simple',
      Restart: 'on-failure',
      RestartPreventExitStatus: '2',
      LimitNOFILE: '65536',
      WantedBy: 'default.target',
    });
    expect(execStartWords(fields.Environment ?? '')).toEqual([`LOOPGATE_STATE_DIR=${base}`]);
    expect(unit).not.toMatch(/token|password/i);
    const words = execStartWords(fields.ExecStart ?? '');
    expect(words[0]).toBe(process.execPath);
    expect(words.slice(-4)).toEqual(['--profile', profile, 'gateway', 'run']);

    // Run the ExecStart command as systemd would (its environment, no shell): it is this profile's gateway.
    const child = spawn(words[0]!, words.slice(1), {
      env: { PATH: process.env.PATH, HOME: env.HOME, LOOPGATE_STATE_DIR: base },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const profileDir = join(base, 'profiles', profile);
    stateDirs.push(profileDir);
    const out = await waitForOutput(child, (t) => t.includes('listening on'), {
      timeoutMs: 30_000,
    });
    expect(out).toContain(`ws://127.0.0.1:${profilePort(profile)}`);
    expect(await readStateLock(profileDir)).toMatchObject({
      state: 'held',
      holder: { pid: child.pid, port: profilePort(profile) },
    });
    const stopped = await runCli(['--profile', profile, 'gateway', 'stop'], { env });
    expect(stopped.code, stopped.stderr).toBe(0);

    // Enabling needs the user manager to see the unit: in a container there is none, and on a
    // desktop the manager does not look in this test's XDG_CONFIG_HOME. Either way: exit 1, the
    // file stays, and the line says what to run.
    const enabled = await runCli(['--profile', profile, 'gateway', 'install'], { env });
    expect(enabled.code).toBe(1);
    expect(enabled.stderr).toMatch(
      new RegExp(
        `the unit is written, but the systemd user manager cannot be reached .*systemctl --user daemon-reload && systemctl --user enable --now ${name}|systemctl --user enable --now ${name} failed`,
      ),
    );
    expect(await readFile(path, 'utf8')).toBe(unit);

    const removed = await runCli(['--profile', profile, 'gateway', 'uninstall'], { env });
    expect(removed.code, removed.stderr).toBe(0);
    expect(removed.stdout).toContain(`removed ${path}`);
    await expect(stat(path)).rejects.toThrow(/ENOENT/);
    const again = await runCli(['--profile', profile, 'gateway', 'uninstall'], { env });
    expect(again.code).toBe(0);
    expect(again.stdout).toContain(`${name} is not installed`);
  }, 120_000);

  it("the default profile's unit is loopgate-gateway.service with no --profile and no Environment line", async () => {
    const root = await makeTempDir('loopgate-unit-');
    dirs.push(root);
    const printed = await runCli(['gateway', 'install', '--print'], {
      env: { HOME: root, LOOPGATE_STATE_DIR: '' },
    });
    expect(printed.code, printed.stderr).toBe(0);
    expect(printed.stdout).toContain('Description=Loopgate gateway\n');
    expect(printed.stdout).not.toContain('--profile');
    expect(printed.stdout).not.toContain('Environment=');
    expect(printed.stdout).toMatch(/^ExecStart=.* "gateway" "run"$/m);
  });
});
