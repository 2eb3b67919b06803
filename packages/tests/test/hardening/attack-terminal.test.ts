/**
 * Writing to the operator's terminal from outside (row 43 of
 * docs/hardening.md): what a stranger declares when it asks to pair (its
 * platform and version) is printed by `loopgate nodes pending`, `nodes
 * list`, `events` and the dashboard. With control characters in it, a
 * carriage return and a few escape sequences could redraw the row, say the
 * pairing code the operator compares. A real gateway, raw sockets on both
 * doors, the real CLI.
 */
import { NodeKey } from '@loopgate/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type GatewayProcess,
  nodeParams,
  openOperatorSocket,
  pairHostileNode,
  startGatewayProcess,
  type TrpcFrame,
} from '../../src/hardening/index.js';
import { makeTempDir, runCli, startTestGateway, type TestGateway } from '../../src/index.js';
import { newOpenClawDevice, OpenClawSocket } from '../../src/openclaw-client.js';

/** Erase the line, back to its start, and print a row of our own. */
const SPOOF = '\r\u001b[2Kpr_x  ABCD-EFGH';
const CONTROL = /\p{Cc}/u;
/** The same, in what the CLI prints (its own line breaks aside). */
const CONTROL_IN_OUTPUT = /[^\P{Cc}\n]/u;

describe('row 43: control characters from a node asking to pair', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway({ config: { gateway: { openclaw: { enabled: true } } } });
  });
  afterAll(() => gw.stop());

  const askToPair = async (declared: Record<string, unknown>): Promise<TrpcFrame> => {
    const asker = await openOperatorSocket(gw.url, gw.token, {
      params: nodeParams(NodeKey.generate()),
    });
    asker.ws.send(
      JSON.stringify({
        id: 1,
        method: 'subscription',
        params: {
          path: 'node.pair.request',
          input: { json: { name: 'printer', commands: ['system.info'], ...declared } },
        },
      }),
    );
    return asker.answerTo(1);
  };

  it('row 43: a platform or version with control characters is refused BAD_REQUEST naming the field, and never reaches `loopgate nodes pending`', async () => {
    const platform = await askToPair({ platform: `linux${SPOOF}` });
    expect(platform.error?.json.data.gatewayCode).toBe('BAD_REQUEST');
    expect(platform.error?.json.message).toMatch(/platform/);
    const version = await askToPair({ platform: 'linux', version: `1.0\u001b]0;owned\u0007` });
    expect(version.error?.json.data.gatewayCode).toBe('BAD_REQUEST');
    expect(version.error?.json.message).toMatch(/version/);

    const home = await makeTempDir('loopgate-cli-');
    const pending = await runCli(['nodes', 'pending', '--url', gw.url, '--token', '-'], {
      env: { LOOPGATE_STATE_DIR: home, HOME: home },
      stdin: gw.token,
    });
    expect(pending.code, pending.stderr).toBe(0);
    expect(pending.stdout).not.toMatch(CONTROL_IN_OUTPUT);
  });

  it('row 43: an OpenClaw node declaring a platform with control characters waits with them removed', async () => {
    const socket = new OpenClawSocket(`${gw.url}/openclaw`);
    try {
      const hello = await socket.connect({
        role: 'node',
        device: newOpenClawDevice(),
        displayName: 'claw-printer',
        platform: `linux${SPOOF}`,
      });
      expect(hello.ok, JSON.stringify(hello.error)).toBe(true);
      const deadline = Date.now() + 5_000;
      let request = gw.gateway.services.nodes.listPending().find((r) => r.name === 'claw-printer');
      while (!request && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        request = gw.gateway.services.nodes.listPending().find((r) => r.name === 'claw-printer');
      }
      expect(request?.platform).toBeDefined();
      expect(request?.platform).not.toMatch(CONTROL);
    } finally {
      socket.close();
    }
  });
});

/**
 * A paired node's own words reach the operator's terminal too: its error
 * message is part of what `loopgate nodes invoke` prints. With an OSC 52
 * sequence a terminal would write the node's text to the clipboard; with
 * ESC [2J it clears the screen.
 */
describe('row 43: control characters in what a paired node answers', () => {
  let proc: GatewayProcess;
  beforeAll(async () => {
    proc = await startGatewayProcess();
    const node = await pairHostileNode(proc.url, proc.token, 'chatty-node');
    node.answerWith(
      (invocationId) =>
        `{"json":{"invocationId":${JSON.stringify(invocationId)},"ok":false,"error":{"code":"E_OOPS","message":"boom\\u001b]52;c;ZWNobyBvd25lZA==\\u0007\\u001b[2J\\r done\\u009b31m"}}}`,
    );
  });
  afterAll(() => proc.stop());

  it('row 43: `loopgate nodes invoke` shows a node’s error message with its control characters made visible, not sent to the terminal', async () => {
    const home = await makeTempDir('loopgate-cli-');
    const out = await runCli(
      ['nodes', 'invoke', 'chatty-node', 'system.info', '--url', proc.url, '--token', '-'],
      { env: { LOOPGATE_STATE_DIR: home, HOME: home }, stdin: proc.token },
    );
    expect(out.code).toBe(1);
    expect(out.stderr).toMatch(/COMMAND_FAILED.*boom/);
    expect(out.stderr).not.toMatch(CONTROL_IN_OUTPUT);
    expect(out.stdout).not.toMatch(CONTROL_IN_OUTPUT);
  });
});
