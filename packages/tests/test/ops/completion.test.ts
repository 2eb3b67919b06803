import { spawn, spawnSync } from 'node:child_process';
import { chmod, mkdir, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  makeTempDir,
  REPO_ROOT,
  type RealPart,
  requireRealPart,
  runCli,
  startTestGateway,
  type TestGateway,
} from '../../src/index.js';
import { operatorClient, startPairedNode } from '../nodes-harness.js';

const BASH_COMPLETION = '/usr/share/bash-completion/bash_completion';

function bashCompletion(): RealPart {
  const probe = spawnSync('bash', [
    '-c',
    `source ${BASH_COMPLETION} && type _get_comp_words_by_ref`,
  ]);
  return probe.status === 0
    ? { available: true }
    : { available: false, reason: `bash with ${BASH_COMPLETION} (the bash-completion package)` };
}

let root: string;
let bin: string;
let gw: TestGateway;
let node: Awaited<ReturnType<typeof startPairedNode>>;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  root = await makeTempDir('loopgate-completion-');
  // `loopgate` on PATH, as the README's set-up gives it: here, the source CLI through tsx.
  bin = join(root, 'bin');
  await mkdir(bin);
  const tsx = createRequire(join(REPO_ROOT, 'package.json')).resolve('tsx');
  await writeFile(
    join(bin, 'loopgate'),
    `#!/bin/sh\nexec "${process.execPath}" --conditions=@loopgate/source --import "${tsx}" "${join(REPO_ROOT, 'apps/cli/src/main.ts')}" "$@"\n`,
  );
  await chmod(join(bin, 'loopgate'), 0o755);
  gw = await startTestGateway();
  const op = operatorClient(gw);
  node = await startPairedNode(gw, op, { name: 'kitchen-pi' });
  await op.close();
  env = {
    PATH: `${bin}:${process.env.PATH}`,
    HOME: root,
    LOOPGATE_STATE_DIR: gw.stateDir,
    LOOPGATE_GATEWAY_URL: gw.url,
  };
}, 90_000);

afterAll(async () => {
  await node?.stop();
  await gw?.stop();
  await rm(root, { recursive: true, force: true });
});

/**
 * Runs bash's completion for `line` (the cursor at its end) with the script
 * `loopgate completion bash` printed. Asynchronous: the gateway answering the
 * node lookup runs in this process.
 */
async function bashComplete(script: string, line: string): Promise<string[]> {
  const words = line.split(' ');
  const program = [
    `source ${BASH_COMPLETION}`,
    script,
    `COMP_LINE=${JSON.stringify(line)}`,
    `COMP_POINT=${line.length}`,
    `COMP_WORDS=(${words.map((w) => JSON.stringify(w)).join(' ')})`,
    `COMP_CWORD=${words.length - 1}`,
    '__loopgate_complete',
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a bash array expansion, not a JS template
    'printf "%s\\n" "${COMPREPLY[@]}"',
  ].join('\n');
  const child = spawn('bash', ['-c', program], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => {
    stdout += d;
  });
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  const code = await new Promise((r) => child.once('close', r));
  expect(code, stderr).toBe(0);
  return stdout.split('\n').filter(Boolean);
}

describe('loopgate completion', () => {
  it('bash, end to end: commands, subcommands, flags, flag choices and node names from the gateway', async (context) => {
    requireRealPart('bash-completion', bashCompletion(), context);
    const printed = await runCli(['completion', 'bash'], { env });
    expect(printed.code, printed.stderr).toBe(0);
    const script = printed.stdout;
    expect(await bashComplete(script, 'loopgate gat')).toEqual(['gateway']);
    expect(await bashComplete(script, 'loopgate gateway st')).toEqual(['status', 'stop']);
    expect(await bashComplete(script, 'loopgate gateway run --bi')).toEqual(['--bind']);
    expect((await bashComplete(script, 'loopgate gateway run --bind ')).sort()).toEqual([
      'auto',
      'custom',
      'lan',
      'loopback',
      'tailnet',
    ]);
    expect(await bashComplete(script, 'loopgate --pro')).toEqual(['--profile']);
    expect(await bashComplete(script, 'loopgate nodes describe ')).toEqual(['kitchen-pi']);
    expect(await bashComplete(script, 'loopgate nodes invoke kit')).toEqual(['kitchen-pi']);
  }, 120_000);

  it('an unreachable gateway adds no node names and no noise, within the lookup budget', async () => {
    const started = Date.now();
    const result = await runCli(['complete', '--', 'nodes', 'describe', ''], {
      env: { ...env, LOOPGATE_GATEWAY_URL: 'ws://127.0.0.1:1' },
    });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout.trim()).toBe(':4');
    expect(result.stderr).toBe('');
    expect(Date.now() - started).toBeLessThan(15_000);
  });

  it('context names for context use and --context come from the config file', async () => {
    const dir = join(root, 'contexts');
    await mkdir(dir);
    await writeFile(
      join(dir, 'config.json5'),
      "{ contexts: { home: { url: 'ws://127.0.0.1:1' }, vps: { url: 'wss://vps.example:443' } } }",
    );
    const contextEnv = { ...env, LOOPGATE_STATE_DIR: dir };
    for (const words of [
      ['context', 'use', ''],
      ['health', '--context', ''],
    ]) {
      const result = await runCli(['complete', '--', ...words], { env: contextEnv });
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout.split('\n').filter(Boolean)).toEqual([
        'home\tcontext',
        'vps\tcontext',
        ':4',
      ]);
    }
  }, 60_000);

  it('zsh and fish scripts name the command and call it back for candidates', async () => {
    for (const [shell, marker] of [
      ['zsh', '#compdef loopgate'],
      ['fish', 'complete -c loopgate'],
    ] as const) {
      const printed = await runCli(['completion', shell], { env });
      expect(printed.code, printed.stderr).toBe(0);
      expect(printed.stdout).toContain(marker);
      expect(printed.stdout).toContain('complete --');
    }
    const refused = await runCli(['completion', 'tcsh'], { env });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain("'tcsh' is invalid for argument 'shell'");
  }, 60_000);
});
