import type { ChildProcess } from 'node:child_process';
import { rm } from 'node:fs/promises';
import type { LoopgateConfigInput, NodesListOutput } from '@loopgate/protocol';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  collectOutput,
  describeWithRealPart,
  findOpenClaw,
  makeTempDir,
  type OpenClawInstall,
  runCli,
  spawnOpenClaw,
  startTestGateway,
  type TestGateway,
  waitFor,
} from '../src/index.js';

/**
 * The real OpenClaw (its npm package, on Node 24, installed by
 * `.ci/install-openclaw.sh`) against a Loopgate gateway with the OpenClaw
 * endpoint on: its headless node host pairs through Loopgate's own flow and
 * runs a command for `loopgate nodes invoke`; its CLI reads `health`.
 * Bounds are generous: each run starts OpenClaw cold in a fresh home (its
 * state database, plugin scan), which took 20-40 s on a loaded 2-core box.
 */
const openclaw = findOpenClaw();
const describeOpenClaw = describeWithRealPart('openclaw (npm) on node 24', openclaw);

describeOpenClaw('real OpenClaw clients on the OpenClaw endpoint', () => {
  const install = openclaw.install as OpenClawInstall;
  const suite = useOpenClawSuite({ gateway: { openclaw: { enabled: true } } });

  const loopgate = (args: string[]) =>
    runCli([...args, '--url', suite.gw.url, '--json'], {
      env: { LOOPGATE_GATEWAY_TOKEN: suite.gw.token },
      timeoutMs: 30_000,
    });
  /** OpenClaw's own CLI against the endpoint, with the gateway's token. */
  const openclawCli = (args: string[]) =>
    collectOutput(
      spawnOpenClaw(
        install,
        [...args, '--url', `${suite.gw.url}/openclaw`, '--token', suite.gw.token, '--json'],
        suite.home,
      ),
      `openclaw ${args.join(' ')}`,
      90_000,
    );
  const listNodes = async (): Promise<NodesListOutput> => {
    const result = await loopgate(['nodes', 'list']);
    expect(result.code, result.stderr).toBe(0);
    return JSON.parse(result.stdout) as NodesListOutput;
  };

  it('`openclaw gateway call health --url --token` prints the gateway health', async () => {
    const { code, stdout, stderr } = await openclawCli(['gateway', 'call', 'health']);
    expect(code, `stdout: ${stdout}\nstderr: ${stderr}`).toBe(0);
    const health = JSON.parse(stdout.slice(stdout.indexOf('{'))) as Record<string, unknown>;
    expect(health).toMatchObject({ ok: true, version: expect.any(String) });
    expect(health.connections).toMatchObject({ operators: expect.any(Number) });
  }, 150_000);

  it('`openclaw node run` pairs through `loopgate nodes approve` and runs a command for `loopgate nodes invoke`, the agent and `openclaw nodes invoke`', async () => {
    // The node host asks to pair: Loopgate's own pending request, under its device key.
    const nodeHost = await startNodeHost(suite, 'claw box', 'claw-box', ['--no-tls']);
    const pending = (await listNodes()).find((n) => n.name === 'claw-box');
    expect(pending).toMatchObject({ state: 'pending', platform: 'linux' });

    const approved = await loopgate(['nodes', 'approve', 'claw-box']);
    expect(approved.code, approved.stderr).toBe(0);

    // Told it was approved, the node host reconnects as the paired node and comes online.
    const nodes = suite.gw.gateway.services.nodes;
    await waitFor(() => nodes.list().find((n) => n.name === 'claw-box' && n.state === 'online'), {
      timeoutMs: 90_000,
      intervalMs: 250,
      what: 'the OpenClaw node to come online',
    }).catch((error: Error) => {
      throw new Error(`${error.message}\nnode host stderr:\n${nodeHost.stderr()}`);
    });
    const online = (await listNodes()).find((n) => n.name === 'claw-box');
    expect(online).toMatchObject({ state: 'online', platform: 'linux' });
    expect(online?.state === 'online' && online.commands).toContain('system.which');

    const invoked = await loopgate([
      'nodes',
      'invoke',
      'claw-box',
      'system.which',
      '--params',
      '{"bins":["sh"]}',
    ]);
    expect(invoked.code, `${invoked.stderr}\nnode host stderr:\n${nodeHost.stderr()}`).toBe(0);
    const out = JSON.parse(invoked.stdout) as { payload: { bins: Record<string, string> } };
    expect(out.payload.bins.sh).toMatch(/\/sh$/);

    // OpenClaw's own operator CLI lists and invokes it through the endpoint.
    const listed = await openclawCli(['nodes', 'list']);
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toContain('"displayName": "claw-box"');
    const ocInvoke = await openclawCli([
      'nodes',
      'invoke',
      '--node',
      'claw-box',
      '--command',
      'system.which',
      '--params',
      '{"bins":["sh"]}',
    ]);
    expect(ocInvoke.code, ocInvoke.stderr).toBe(0);
    expect(JSON.parse(ocInvoke.stdout.slice(ocInvoke.stdout.indexOf('{')))).toMatchObject({
      ok: true,
      command: 'system.which',
      payload: { bins: { sh: expect.stringMatching(/\/sh$/) } },
    });

    // The agent reaches it through the same tool path as any node.
    const agent = await loopgate(['agent', '/invoke claw-box system.which {"bins":["sh"]}']);
    expect(agent.code, agent.stderr).toBe(0);
    const run = JSON.parse(agent.stdout) as { state: string; toolCalls: number; text: string };
    expect(run).toMatchObject({ state: 'completed', toolCalls: 1 });
    expect(run.text).toMatch(/claw-box · system\.which → ok[\s\S]*\/sh/);
  }, 420_000);
});

describeOpenClaw('the real OpenClaw node host over wss:// with a pinned certificate', () => {
  const suite = useOpenClawSuite({
    gateway: { openclaw: { enabled: true }, tls: { enabled: true } },
  });

  it('`openclaw node run --tls --tls-fingerprint` reaches the endpoint and asks to pair', async () => {
    const fingerprint = suite.gw.gateway.tlsFingerprint;
    expect(fingerprint).toBeDefined();
    const nodeHost = await startNodeHost(suite, 'tls-claw', 'tls-claw', [
      '--tls',
      '--tls-fingerprint',
      String(fingerprint),
    ]);
    const pending = suite.gw.gateway.services.nodes
      .listPending()
      .find((r) => r.name === 'tls-claw');
    expect(pending).toMatchObject({ platform: 'linux' });
    expect(nodeHost.stderr()).toContain(`wss://127.0.0.1:${suite.gw.port}/openclaw`);
  }, 240_000);
});

type OpenClawSuite = { gw: TestGateway; home: string; nodeHost?: ChildProcess };

/** A gateway (config merged over the test defaults) and a fresh OpenClaw home for one suite, gone after it. */
function useOpenClawSuite(config: LoopgateConfigInput): OpenClawSuite {
  const suite = {} as OpenClawSuite;
  beforeAll(async () => {
    suite.gw = await startTestGateway({ config });
    suite.home = await makeTempDir('loopgate-openclaw-home-');
  });
  afterAll(async () => {
    await stopProcess(suite.nodeHost);
    await suite.gw?.stop();
    if (suite.home) await rm(suite.home, { recursive: true, force: true });
  });
  return suite;
}

/**
 * Starts the real `openclaw node run` against the suite's endpoint and waits
 * (bounded; polled in process) until its pairing request is there.
 */
async function startNodeHost(
  suite: OpenClawSuite,
  displayName: string,
  nodeName: string,
  transport: string[],
): Promise<{ stderr: () => string }> {
  let stderr = '';
  const { gw, home } = suite;
  const args = ['node', 'run', '--host', '127.0.0.1', '--port', String(gw.port)];
  suite.nodeHost = spawnOpenClaw(
    openclaw.install as OpenClawInstall,
    [...args, '--context-path', '/openclaw', ...transport, '--display-name', displayName],
    home,
  );
  suite.nodeHost.stderr?.on('data', (d) => {
    stderr += d;
  });
  await waitFor(() => gw.gateway.services.nodes.listPending().find((r) => r.name === nodeName), {
    timeoutMs: 180_000,
    intervalMs: 250,
    what: `the OpenClaw node "${nodeName}" to ask to pair`,
  }).catch((error: Error) => {
    throw new Error(`${error.message}\nnode host stderr:\n${stderr}`);
  });
  return { stderr: () => stderr };
}

/** SIGTERM, then SIGKILL if it has not exited within 5 s. */
async function stopProcess(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5_000))]);
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}
