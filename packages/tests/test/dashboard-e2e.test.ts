import { execFile, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  describeWithRealPart,
  makeTempDir,
  REPO_ROOT,
  runCli,
  sourceNodeArgs,
  startTestGateway,
  type TestGateway,
} from '../src/index.js';
import { type NodeProcess, startNodeProcess } from './nodes-harness.js';

/**
 * The real `loopgate tui` in a real terminal: tmux gives it a pty of 120×40,
 * keys go in with `send-keys`, and the screen comes back with `capture-pane`.
 * Against it: a real gateway and a real `loopgate node run` process.
 */

const run = promisify(execFile);
const TMUX = 'tmux';
const withTmux = describeWithRealPart(
  'tmux (a real terminal)',
  spawnSync(TMUX, ['-V']).status === 0
    ? { available: true }
    : {
        available: false,
        reason: 'tmux is not installed (.ci/install-system-deps.sh installs it)',
      },
);
const COLUMNS = 120;
const ROWS = 40;

/** One tmux server of our own (its own socket), so nothing of the user's tmux is touched. */
class Terminal {
  readonly socket = `loopgate-e2e-${process.pid}-${randomBytes(4).toString('hex')}`;
  #last = '';

  async start(command: string, env: Record<string, string>): Promise<void> {
    const envArgs = Object.entries(env).flatMap(([k, v]) => ['-e', `${k}=${v}`]);
    await this.#tmux(
      '-f',
      '/dev/null',
      'new-session',
      '-d',
      '-s',
      'dash',
      '-x',
      String(COLUMNS),
      '-y',
      String(ROWS),
      ...envArgs,
      command,
    );
    // keep the pane (and what the dashboard last said) if it exits
    await this.#tmux('set-option', '-t', 'dash', 'remain-on-exit', 'on');
  }

  async screen(): Promise<string> {
    const { stdout } = await this.#tmux('capture-pane', '-p', '-t', 'dash');
    this.#last = stdout;
    return stdout;
  }

  /** The screen with its colour and style escape sequences. */
  async styledScreen(): Promise<string> {
    const { stdout } = await this.#tmux('capture-pane', '-p', '-e', '-t', 'dash');
    return stdout;
  }

  /** Named keys (Enter, Escape, Up) one by one. */
  async keys(...keys: string[]): Promise<void> {
    for (const key of keys) await this.#tmux('send-keys', '-t', 'dash', key);
  }

  /** Literal text, as typed. */
  async type(text: string): Promise<void> {
    await this.#tmux('send-keys', '-t', 'dash', '-l', text);
  }

  /** Polls the screen until `check` holds, bounded; the failure shows the last screen. */
  async waitFor(
    what: string,
    check: (screen: string) => boolean,
    timeoutMs = 20_000,
  ): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const screen = await this.screen();
      if (check(screen)) return screen;
      if (Date.now() > deadline)
        throw new Error(`timed out waiting for ${what}; the screen was:\n${this.#last}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async waitForText(...texts: string[]): Promise<string> {
    return this.waitFor(texts.map((t) => `"${t}"`).join(' and '), (s) =>
      texts.every((t) => s.includes(t)),
    );
  }

  async close(): Promise<void> {
    await this.#tmux('kill-server').catch(() => {});
  }

  #tmux(...args: string[]) {
    return run(TMUX, ['-L', this.socket, ...args], { timeout: 10_000 });
  }
}

function shellQuote(arg: string): string {
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

function tuiCommand(url: string, logFile: string): string {
  return [
    process.execPath,
    ...sourceNodeArgs(join(REPO_ROOT, 'apps/cli/src/main.ts')),
    'tui',
    '--url',
    url,
    '--log-file',
    logFile,
  ]
    .map(shellQuote)
    .join(' ');
}

describe('loopgate tui without a terminal', () => {
  it('exits with a usage error that points to the --json commands instead of crashing on raw mode', async () => {
    const home = await makeTempDir('loopgate-tui-');
    const result = await runCli(['tui', '--url', 'ws://127.0.0.1:9'], {
      env: { LOOPGATE_STATE_DIR: home },
      timeoutMs: 50_000,
    }).finally(() => rm(home, { recursive: true, force: true }));
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('needs an interactive terminal');
    expect(result.stderr).toContain('loopgate status --json');
    expect(result.stderr).not.toMatch(/Raw mode|at .*\.js:\d+/);
    expect(result.stdout).toBe('');
  }, 60_000);
});

withTmux('loopgate tui with NO_COLOR in a real terminal', () => {
  it('draws no colour, and every state still reads in words', async () => {
    const home = await makeTempDir('loopgate-tui-');
    const terminal = new Terminal();
    try {
      // nothing listens on port 9: the dashboard must say so, in words, and keep running
      await terminal.start(tuiCommand('ws://127.0.0.1:9', join(home, 'dashboard.log')), {
        LOOPGATE_STATE_DIR: home,
        NO_COLOR: '1',
        TERM: 'xterm-256color',
      });
      await terminal.waitFor(
        'the reconnecting state',
        (s) => /↻ reconnecting \d+/.test(s) && s.includes('Not connected'),
      );
      const styled = await terminal.styledScreen();
      // SGR colour parameters: 30–37, 90–97 (foreground), 38;… (256/true colour)
      // biome-ignore lint/suspicious/noControlCharactersInRegex: matching terminal escape sequences
      const colours = [...styled.matchAll(/\u001B\[([0-9;]*)m/g)]
        .map((m) => m[1]!)
        .filter((p) => /(^|;)(3[0-8]|9[0-7])(;|$)/.test(p));
      expect(colours).toEqual([]);
    } finally {
      await terminal.close();
      await rm(home, { recursive: true, force: true });
    }
  }, 90_000);
});

withTmux('loopgate tui in a real terminal', () => {
  let gw: TestGateway;
  let node: NodeProcess | undefined;
  let terminal: Terminal;
  let home: string;

  beforeAll(async () => {
    gw = await startTestGateway();
    home = await makeTempDir('loopgate-tui-');
    terminal = new Terminal();
    await terminal.start(tuiCommand(gw.url, join(home, 'dashboard.log')), {
      LOOPGATE_STATE_DIR: home,
      LOOPGATE_GATEWAY_TOKEN: gw.token,
      TERM: 'xterm-256color',
    });
  });

  afterAll(async () => {
    await terminal?.close();
    await node?.stop();
    await gw?.stop();
    if (home) await rm(home, { recursive: true, force: true });
  });

  it('shows the gateway, then a node asking to pair, approves it, invokes system.info, chats, and survives a gateway restart', async () => {
    // the first screen waits for tsx to compile the CLI from source, slow on a busy machine
    let screen = await terminal.waitFor(
      'the first screen',
      (s) => ['[1 Overview]', '● open', '✓ ok'].every((t) => s.includes(t)),
      60_000,
    );
    expect(screen).toContain(gw.url);

    // a real node process asks to pair; the dashboard shows it as it happens
    node = await startNodeProcess(gw, { name: 'e2e-node' });
    await terminal.keys('2');
    screen = await terminal.waitForText('! pending', 'e2e-node');
    expect(screen).toContain('2 Nodes](1 pending)');

    // approving asks first
    await terminal.keys('a');
    await terminal.waitForText('Approve pairing of "e2e-node"', 'y yes');
    await terminal.keys('y');
    screen = await terminal.waitFor('the node online', (s) => /● online\s+e2e-node/.test(s));
    expect(screen).not.toContain('! pending');

    // invoke system.info: pick the command, send the empty params field (it sends {}), see the result
    await terminal.keys('i');
    screen = await terminal.waitForText('Invoke on e2e-node', 'system.info');
    const commands = screen
      .split('\n')
      .filter((l) => /^[▸ ] \S+\.\S+/.test(l))
      .map((l) => l.slice(2).trim());
    for (let i = 0; i < commands.indexOf('system.info'); i++) await terminal.keys('Down');
    await terminal.keys('Enter');
    await terminal.waitForText('system.info params (JSON) ›   no params · Enter sends {}');
    await terminal.keys('Enter');
    screen = await terminal.waitForText('Invoke system.info on e2e-node {} ✓ ok', '"hostname"');
    await keepCapture('nodes', screen);

    // chat: a new session, a directive the local provider answers, the reply streams in
    await terminal.keys('3');
    await terminal.waitForText('[3 Chat]', 'No messages yet');
    await terminal.keys('Enter');
    await terminal.waitForText('message ›');
    await terminal.type('/nodes');
    await terminal.keys('Enter');
    screen = await terminal.waitFor(
      'the agent reply listing the node',
      (s) =>
        /agent ›/.test(s) &&
        /you › +\/nodes/.test(s) &&
        s.split('agent ›')[1]!.includes('e2e-node'),
    );
    await keepCapture('chat', screen);

    // the gateway goes away: the dashboard says so and keeps running
    await terminal.keys('1');
    await gw.gateway.stop('e2e restart');
    screen = await terminal.waitFor('reconnecting', (s) => /↻ reconnecting \d+/.test(s));
    expect(screen).toMatch(/Not connected — reconnecting, attempt \d+/);
    expect(screen).toContain('loopgate gateway run');
    await keepCapture('reconnecting', screen);

    // it comes back on the same port: the dashboard recovers by itself, and so does the node
    await gw.restart();
    await terminal.waitFor(
      'the link open again',
      (s) => s.includes('● open') && !s.includes('reconnecting'),
      30_000,
    );
    await terminal.keys('4');
    screen = await terminal.waitForText('gateway started', 'node "e2e-node" online');
    // events resumed from where the stream left off: the stop is in the log too
    expect(screen).toContain('gateway stopping: e2e restart');
    await keepCapture('events', screen);
    await terminal.keys('2');
    await terminal.waitFor('the node online after the restart', (s) =>
      /● online\s+e2e-node/.test(s),
    );

    // c in the Connection pane (local mode, no config) reconnects to the --url it was started with,
    // not to 127.0.0.1:18789: the gateway logs one more dashboard connection
    const dashboardConnections = (s: string) =>
      s.split('\n').filter((l) => /operator connected from .*\(loopgate-dashboard\)/.test(l))
        .length;
    await terminal.keys('4', '/');
    await terminal.type('loopgate-dashboard');
    await terminal.keys('Enter');
    const before = dashboardConnections(await terminal.waitForText('filter /loopgate-dashboard/'));
    expect(before).toBeGreaterThan(0);
    await terminal.keys('5');
    await terminal.waitForText('[5 Connection]');
    await terminal.keys('c');
    await terminal.waitForText('connecting (local)');
    await terminal.keys('4');
    await terminal.waitFor(
      'a new dashboard connection on the --url gateway',
      (s) => dashboardConnections(s) > before,
    );
    screen = await terminal.waitFor('the link open', (s) => s.includes('● open'));
    expect(screen).toContain(gw.url);
    expect(screen).not.toContain('127.0.0.1:18789');
    await terminal.keys('Escape');

    // and it quits cleanly on q, leaving the shell's screen as it was
    await terminal.keys('1');
    await keepCapture('overview', await terminal.waitForText('[1 Overview]', '● open', 'Latency'));
    await terminal.keys('q');
    const log = await terminal
      .waitFor('the dashboard to exit', (s) => !s.includes('[1 Overview]'), 15_000)
      .then(() => readFile(join(home, 'dashboard.log'), 'utf8'));
    expect(log).toContain('"msg":"dashboard stopped"');
  }, 180_000);
});

/**
 * Screens kept for docs/dashboard.md, only when LOOPGATE_DASHBOARD_CAPTURE
 * names a directory (a normal test run writes nothing).
 */
async function keepCapture(name: string, screen: string): Promise<void> {
  const dir = process.env.LOOPGATE_DASHBOARD_CAPTURE;
  if (!dir) return;
  await mkdir(dir, { recursive: true });
  await writeFile(
    join(dir, `${name}.txt`),
    `${screen.replace(/[ \t]+$/gm, '').replace(/\n+$/, '')}\n`,
  );
}
