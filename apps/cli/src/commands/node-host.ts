import { hostname } from 'node:os';
import { resolve } from 'node:path';
import {
  describeTunnelState,
  formatRetryLine,
  openGatewayTunnel,
  resolveGatewayTarget,
  type Tunnel,
  webSocketOptionsFor,
} from '@loopgate/client';
import { createHostCommands, createNode, type NodeEvent, type Notification } from '@loopgate/node';
import {
  GatewayError,
  NodeName,
  resolveStateDir,
  type SshTunnelConfig,
  untrustedPathReason,
} from '@loopgate/protocol';
import type { Command } from 'commander';
import { beforeConnecting, UsageError } from '../exit-codes.js';
import { formatDuration, note } from '../output.js';

type NodeRunFlags = {
  url?: string;
  token?: string;
  ssh?: string;
  name?: string;
  stateDir?: string;
  fsRoot?: string[];
  fsMaxBytes?: string;
  allowExec?: string[];
  execTimeout?: string;
  execMaxOutput?: string;
  tlsFingerprint?: string[];
  insecurePlaintext?: boolean;
  json?: boolean;
};

/** `loopgate node run`: this machine as a node of a gateway, with a safe default command set. */
export function registerNodeHostCommands(program: Command): void {
  const node = program.command('node').description('run this machine as a node of a gateway');
  node
    .command('run')
    .description('pair (first run), connect, and serve commands until stopped')
    .option(
      '--url <url>',
      'gateway URL (default: LOOPGATE_GATEWAY_URL, the config file, else ws://127.0.0.1:18789)',
    )
    .option('--name <name>', 'how operators will know this node (default: the host name)')
    .option(
      '--state-dir <dir>',
      "where the node keeps its token (default: the profile's state dir, LOOPGATE_STATE_DIR or ~/.loopgate)",
    )
    .option(
      '--token <token>',
      'the gateway\'s operator token, only if the gateway requires one from nodes; "-" reads stdin',
    )
    .option('--token-file <path>', 'read that token from this file (keeps it out of ps)')
    .option(
      '--fs-root <dir>',
      'share this directory read-only through fs.read (repeatable)',
      collect,
      undefined,
    )
    .option('--fs-max-bytes <n>', 'most bytes one fs.read returns (default 1048576)')
    .option(
      '--allow-exec <executable>',
      'allow system.run for this executable, run without a shell (repeatable)',
      collect,
      undefined,
    )
    .option('--exec-timeout <ms>', 'longest a system.run may take (default 30000)')
    .option('--exec-max-output <bytes>', 'stdout/stderr kept per system.run (default 262144)')
    .option(
      '--tls-fingerprint <sha256>',
      "pin the gateway's wss:// certificate (repeatable for rotation)",
      collect,
      undefined,
    )
    .option('--insecure-plaintext', 'allow plain ws:// to a non-loopback host')
    .option(
      '--ssh <user@host>',
      "reach the gateway through a supervised SSH tunnel to the gateway's host (port, key and ssh config from gateway.remote.ssh)",
    )
    .option('--json', 'print node events as JSON lines on stdout')
    .action(async (flags: NodeRunFlags) => {
      await runNodeHost(flags);
    });
}

async function runNodeHost(flags: NodeRunFlags): Promise<void> {
  const name = flags.name ?? defaultNodeName();
  const parsedName = NodeName.safeParse(name);
  if (!parsedName.success) {
    throw new UsageError(
      `--name ${JSON.stringify(name)}: ${parsedName.error.issues[0]?.message ?? 'invalid'}`,
    );
  }
  const stateDir = resolve(flags.stateDir ?? resolveStateDir(process.env));
  // The node's key and pairing record live there: whoever may write it could swap in their own.
  const unsafe = untrustedPathReason(stateDir);
  if (unsafe) throw new UsageError(`state dir ${stateDir} ${unsafe}`, { code: 'INVALID_CONFIG' });
  const emit = flags.json
    ? (record: Record<string, unknown>) =>
        process.stdout.write(`${JSON.stringify({ ...record, ts: Date.now() })}\n`)
    : undefined;
  const say = (line: string) => note(`node ${name}: ${line}`);

  const showNotification = (n: Notification) => {
    if (emit) emit({ type: 'notify', ...n });
    else note(`[${n.level}]${n.title ? ` ${n.title}:` : ''} ${n.message}`);
  };
  let host: Awaited<ReturnType<typeof createHostCommands>>;
  try {
    host = await createHostCommands({
      nodeName: name,
      fs: {
        roots: flags.fsRoot ?? [],
        ...(flags.fsMaxBytes ? { maxBytes: positiveInt(flags.fsMaxBytes, '--fs-max-bytes') } : {}),
      },
      run: {
        allow: flags.allowExec ?? [],
        ...(flags.execTimeout
          ? { timeoutMs: positiveInt(flags.execTimeout, '--exec-timeout') }
          : {}),
        ...(flags.execMaxOutput
          ? { maxOutputBytes: positiveInt(flags.execMaxOutput, '--exec-max-output') }
          : {}),
      },
      notify: showNotification,
    });
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new UsageError((error as Error).message);
  }

  const onEvent = (event: NodeEvent) => {
    if (emit) {
      emit('error' in event && event.error ? { ...event, error: errorRecord(event.error) } : event);
      return;
    }
    describeEvent(event, say);
  };
  const { url, tlsFingerprint, tunnel } = await nodeEndpoint(flags, stateDir, say);
  const node = createNode({
    name,
    commands: host.commands,
    stateDir,
    url,
    ...(flags.token ? { token: flags.token } : {}),
    client: {
      stateDir,
      ...(tlsFingerprint ? { tlsFingerprint } : {}),
      ...(flags.insecurePlaintext ? { insecurePlaintext: true } : {}),
    },
    onEvent,
  });
  if (!emit) {
    say(`offering ${Object.keys(host.commands).join(', ')}`);
    for (const off of host.disabled) say(`not offered: ${off}`);
    if (host.runAllowlist.length > 0)
      say(
        `system.run admits exactly: ${host.runAllowlist.map((e) => `${e.name} (${e.path})`).join(', ')}`,
      );
    say(`connecting to ${url}${tunnel ? ' (through the ssh tunnel)' : ''}`);
  }

  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    if (!emit) say(`stopping (${signal})`);
    void node.stop();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    await node.start();
    await node.done;
  } catch (error) {
    if (stopping && error instanceof GatewayError && error.code === 'CANCELLED') return;
    if (error instanceof GatewayError && error.code === 'NOT_PAIRED')
      throw new NodeRefusedError(error.message, { details: error.details, cause: error });
    throw error;
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    await tunnel?.close();
  }
}

/**
 * The gateway refused this node (a rejected pairing, a revoked node): the
 * advice is for whoever runs the node, not the operator's
 * "loopgate nodes approve".
 */
class NodeRefusedError extends GatewayError {
  constructor(message: string, options: { details?: Record<string, unknown>; cause?: unknown }) {
    super('NOT_PAIRED', message, options);
  }

  override describe(): string {
    return `${this.message} — run loopgate node run again to send a new pairing request; an operator approves it on the gateway host`;
  }
}

type NodeEndpoint = { url: string; tlsFingerprint?: string | string[]; tunnel?: Tunnel };

/**
 * Where the node dials, found as every other command finds its gateway:
 * `--url`, `--ssh`, else the configuration — in remote mode with only
 * `gateway.remote.ssh`, through that tunnel. The tunnel is supervised for the
 * node's whole life: it comes back after ssh drops, and the node SDK
 * reconnects through it on its own. A bad config file, URL or pin is a
 * usage error (exit 2) before anything is dialled.
 */
async function nodeEndpoint(
  flags: NodeRunFlags,
  stateDir: string,
  say: (line: string) => void,
): Promise<NodeEndpoint> {
  if (flags.ssh && flags.url) throw new UsageError('give either --url or --ssh, not both');
  const target = beforeConnecting(() =>
    resolveGatewayTarget({ ...(flags.url ? { url: flags.url } : {}), stateDir }),
  );
  const ssh = flags.ssh ? { ...target.ssh, target: flags.ssh } : flags.url ? undefined : target.ssh;
  const tunnel = ssh ? await openSupervisedTunnel(ssh, say) : undefined;
  const url = tunnel?.url ?? target.url;
  // gateway.remote.tlsFingerprint pins gateway.remote.url, not --url or the tunnel's local end
  const tlsFingerprint =
    flags.tlsFingerprint ??
    (target.source.url === 'config' && !tunnel ? target.tlsFingerprint : undefined);
  try {
    beforeConnecting(() =>
      webSocketOptionsFor(url, { tlsFingerprint, insecurePlaintext: flags.insecurePlaintext }),
    );
  } catch (error) {
    await tunnel?.close();
    throw error;
  }
  return { url, ...(tlsFingerprint ? { tlsFingerprint } : {}), ...(tunnel ? { tunnel } : {}) };
}

/** The node's tunnel, saying every state change (retries, why, when) for as long as it runs. */
async function openSupervisedTunnel(
  ssh: Partial<SshTunnelConfig> & { target: string },
  say: (line: string) => void,
): Promise<Tunnel> {
  say(`opening an ssh tunnel to ${ssh.target}`);
  return openGatewayTunnel(ssh, {}, (state) =>
    say(`ssh tunnel to ${ssh.target}: ${describeTunnelState(state)}`),
  );
}

function describeEvent(event: NodeEvent, say: (line: string) => void): void {
  switch (event.type) {
    case 'pairing.pending':
      say(
        `pairing code ${event.pairingCode} — waiting for an operator to approve request ${event.requestId} (expires in ${formatDuration(event.expiresAt - Date.now())}); on the gateway, check that loopgate nodes pending shows the same code, then run: loopgate nodes approve ${event.pairingCode}`,
      );
      return;
    case 'paired':
      say(`paired as ${event.nodeId}; approved: ${event.approvedCommands.join(', ') || '(none)'}`);
      return;
    case 'hello':
      say(`invocable: ${event.allowedCommands.join(', ') || '(none)'}`);
      return;
    case 'status':
      if (event.status === 'online') say('online');
      // the 'retrying' line that follows says why and when
      else if (event.status === 'reconnecting') say('connection lost; reconnecting');
      // a node stopped by an error ends the command, whose one final line says why
      return;
    case 'invocation.finished':
      say(
        `${event.command} ${event.ok ? 'ok' : `failed (${event.errorCode})`} in ${event.durationMs} ms`,
      );
      return;
    case 'invocation.cancelled':
      say(`${event.command} cancelled (${event.reason})`);
      return;
    case 'warning':
      say(`warning: ${event.message}`);
      return;
    case 'retrying':
      say(
        formatRetryLine({
          target: event.url,
          reason: event.error?.message,
          retryInMs: event.retryInMs,
          attempt: event.attempt,
        }),
      );
      return;
    default:
      return;
  }
}

function errorRecord(error: GatewayError): Record<string, unknown> {
  return { code: error.code, message: error.message };
}

/** The host name, made into a valid node name (`My Laptop.local` → `My-Laptop.local`). */
function defaultNodeName(): string {
  const cleaned = hostname()
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .replace(/^[^A-Za-z0-9]+/, '')
    .slice(0, 64);
  return cleaned || 'node';
}

function positiveInt(text: string, flag: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1)
    throw new UsageError(`${flag} expects a positive integer, got ${text}`);
  return n;
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}
