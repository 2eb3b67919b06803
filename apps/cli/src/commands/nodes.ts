import { randomUUID } from 'node:crypto';
import {
  NodeDetail,
  type NodeSummary,
  NodesInvokeOutput,
  NodesListOutput,
  NodesPairApproveOutput,
  NodesPairRejectOutput,
  NodesPairRemoveOutput,
  PendingPairRequest,
} from '@loopgate/protocol';
import type { Command } from 'commander';
import * as z from 'zod';
import { addClientOptions, type ClientFlags, withClient } from '../connect.js';
import { UsageError } from '../exit-codes.js';
import { formatDuration, note, printResult } from '../output.js';

/** `loopgate nodes …`: presence, pairing and invocations of nodes. */
export function registerNodesCommands(program: Command): void {
  const nodes = program.command('nodes').description('paired nodes: list, pair, invoke, remove');

  addClientOptions(
    nodes.command('list').description('paired nodes (online/offline) and pending pairing requests'),
  ).action(async (flags: ClientFlags) => {
    const list = await withClient(flags, (c) => c.nodes.list.query());
    printResult(list, { json: flags.json, schema: NodesListOutput, human: renderList });
  });

  addClientOptions(
    nodes
      .command('describe')
      .description('one node: commands, presence and invocations in flight')
      .argument('<node>', 'node id or name (or a pending request id)'),
  ).action(async (node: string, flags: ClientFlags) => {
    const detail = await withClient(flags, (c) => c.nodes.describe.query({ nodeId: node }));
    printResult(detail, { json: flags.json, schema: NodeDetail, human: renderDetail });
  });

  addClientOptions(
    nodes.command('pending').description('pairing requests waiting for a decision'),
  ).action(async (flags: ClientFlags) => {
    const pending = await withClient(flags, (c) => c.nodes.pair.list.query());
    printResult(pending, {
      json: flags.json,
      schema: z.array(PendingPairRequest),
      human: renderPending,
    });
  });

  addClientOptions(
    nodes
      .command('approve')
      .description(
        "approve a pairing request once its code matches the node's output; the node's key is bound to its name and it comes online",
      )
      .argument(
        '<request>',
        'request id (pr_…), pairing code (ABCD-EFGH), or the node name when only one key asked for it',
      )
      .option(
        '--commands <list>',
        'comma-separated commands to allow (default: what the node asked for); "prefix.*" and "*" allowed',
      )
      .option(
        '--all-commands',
        'allow every command the node offers, now and after upgrades (same as --commands "*")',
      ),
  ).action(
    async (request: string, flags: ClientFlags & { commands?: string; allCommands?: boolean }) => {
      if (flags.commands && flags.allCommands)
        throw new UsageError('use either --commands or --all-commands');
      const commands = flags.allCommands
        ? ['*']
        : flags.commands
          ? splitList(flags.commands)
          : undefined;
      const approved = await withClient(flags, (c) =>
        c.nodes.pair.approve.mutate({ requestId: request, ...(commands ? { commands } : {}) }),
      );
      printResult(approved, {
        json: flags.json,
        schema: NodesPairApproveOutput,
        human: (a) =>
          `approved ${a.name} as ${a.nodeId} · commands: ${a.approvedCommands.join(', ') || '(none)'}`,
      });
    },
  );

  addClientOptions(
    nodes
      .command('reject')
      .description('reject a pairing request')
      .argument('<request>', 'request id (pr_…), pairing code, or the node name when unambiguous')
      .option('--reason <text>', 'told to the node'),
  ).action(async (request: string, flags: ClientFlags & { reason?: string }) => {
    const rejected = await withClient(flags, (c) =>
      c.nodes.pair.reject.mutate({
        requestId: request,
        ...(flags.reason ? { reason: flags.reason } : {}),
      }),
    );
    printResult(rejected, {
      json: flags.json,
      schema: NodesPairRejectOutput,
      human: (r) => `rejected the pairing request of ${r.name} (${r.requestId})`,
    });
  });

  addClientOptions(
    nodes
      .command('remove')
      .description(
        'revoke a node: its key no longer opens a connection and its connection closes now',
      )
      .argument('<node>', 'node id or name'),
  ).action(async (node: string, flags: ClientFlags) => {
    const removed = await withClient(flags, (c) => c.nodes.pair.remove.mutate({ nodeId: node }));
    printResult(removed, {
      json: flags.json,
      schema: NodesPairRemoveOutput,
      human: (r) =>
        `removed ${r.name} (${r.nodeId})${r.closedConnections > 0 ? ` · closed ${r.closedConnections} live connection(s)` : ''}`,
    });
  });

  addClientOptions(
    nodes
      .command('invoke')
      .description('run a command on a node and print its result')
      .argument('<node>', 'node id or name')
      .argument('<command>', 'e.g. system.info')
      .option('--params <json>', 'params as JSON', undefined)
      .option('--timeout <ms>', 'give up after this long (default: gateway.nodes.invokeTimeoutMs)')
      .option(
        '--idempotency-key <key>',
        'repeat a call without running it twice (default: a fresh key)',
      ),
  ).action(
    async (
      node: string,
      command: string,
      flags: ClientFlags & { params?: string; timeout?: string; idempotencyKey?: string },
    ) => {
      const params = flags.params === undefined ? undefined : parseJson(flags.params, '--params');
      const timeoutMs =
        flags.timeout === undefined ? undefined : parsePositiveInt(flags.timeout, '--timeout');
      const out = await withClient(flags, (c) =>
        c.nodes.invoke.mutate({
          nodeId: node,
          command,
          ...(params === undefined ? {} : { params }),
          ...(timeoutMs === undefined ? {} : { timeoutMs }),
          idempotencyKey: flags.idempotencyKey ?? randomUUID(),
        }),
      );
      if (!flags.json)
        note(
          `${command} on ${node} (${out.nodeId}) · ${out.durationMs} ms${out.replayed ? ' · replayed' : ''}`,
        );
      printResult(out, {
        json: flags.json,
        schema: NodesInvokeOutput,
        human: (o) =>
          typeof o.payload === 'string' ? o.payload : JSON.stringify(o.payload, null, 2),
      });
    },
  );
}

function splitList(text: string): string[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

function parseJson(text: string, flag: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new UsageError(`${flag} is not valid JSON: ${(error as Error).message}`);
  }
}

function parsePositiveInt(text: string, flag: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1)
    throw new UsageError(`${flag} expects a positive integer (milliseconds), got ${text}`);
  return n;
}

function ago(ts: number | null | undefined): string {
  if (ts === null || ts === undefined) return 'never';
  const ms = Date.now() - ts;
  return ms < 1000 ? 'now' : `${formatDuration(ms)} ago`;
}

function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows
    .map((r) =>
      r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  '),
    )
    .join('\n');
}

function renderList(list: NodeSummary[]): string {
  if (list.length === 0) return 'no nodes yet — start one with: loopgate node run --name <name>';
  const rows = [['NAME', 'STATE', 'ID', 'PLATFORM', 'LAST SEEN', 'COMMANDS']];
  for (const n of list) {
    if (n.state === 'pending') {
      rows.push([
        n.name,
        'pending',
        n.requestId,
        n.platform,
        n.waiting ? 'waiting' : 'away',
        n.commands.join(', '),
      ]);
    } else {
      const commands = n.state === 'online' ? n.commands : n.approvedCommands;
      rows.push([
        n.name,
        n.state,
        n.nodeId,
        n.platform,
        n.state === 'online' ? 'now' : ago(n.lastSeenAt),
        commands.join(', '),
      ]);
    }
  }
  const pending = list.filter((n) => n.state === 'pending');
  const hint =
    pending.length > 0
      ? `\n${pending.length} pending — approve with: loopgate nodes approve <request>`
      : '';
  return table(rows) + hint;
}

function renderPending(list: PendingPairRequest[]): string {
  if (list.length === 0) return 'no pairing requests are waiting';
  const rows = [['REQUEST', 'CODE', 'NAME', 'PLATFORM', 'FROM', 'EXPIRES', 'COMMANDS']];
  for (const r of list) {
    const left = Math.max(0, r.expiresAt - Date.now());
    rows.push([
      r.requestId,
      r.pairingCode,
      r.contested ? `${r.name} (contested)` : r.name,
      r.platform,
      r.remoteAddress,
      `in ${formatDuration(left)}`,
      r.commands.join(', '),
    ]);
  }
  const contested = list.some((r) => r.contested)
    ? '\nmore than one key asked for a name marked contested: approve by request id or code, never by name'
    : '';
  return `${table(rows)}\ncompare CODE with the code the node prints, then: loopgate nodes approve <code | request>   reject with: loopgate nodes reject <request>${contested}`;
}

function renderDetail(d: NodeDetail): string {
  if (d.state === 'pending') {
    return [
      `${d.name} · pending pairing request ${d.requestId} · code ${d.pairingCode}${d.contested ? ' · contested' : ''}`,
      `platform: ${d.platform}${d.version ? ` · version ${d.version}` : ''} · from ${d.remoteAddress}`,
      `asks for: ${d.commands.join(', ') || '(no commands)'}`,
      `expires in ${formatDuration(Math.max(0, d.expiresAt - Date.now()))}`,
    ].join('\n');
  }
  const notApproved = d.declaredCommands.filter((c) => !d.commands.includes(c));
  const lines = [
    `${d.name} (${d.nodeId}) · ${d.state}${d.remoteAddress ? ` from ${d.remoteAddress}` : ''}`,
    `platform: ${d.platform}${d.version ? ` · version ${d.version}` : ''} · paired ${ago(d.pairedAt)} · last seen ${d.state === 'online' ? 'now' : ago(d.lastSeenAt)}`,
    `invocable: ${d.commands.join(', ') || (d.state === 'online' ? '(none)' : '(offline)')}`,
    `approved: ${d.approvedCommands.join(', ') || '(none)'}`,
  ];
  if (d.state === 'online' && notApproved.length > 0)
    lines.push(`offered but not approved: ${notApproved.join(', ')}`);
  lines.push(`in flight: ${d.invocations.length}`);
  for (const inv of d.invocations) {
    const progress = inv.progress
      ? ` · ${inv.progress.percent ?? '?'}% ${inv.progress.message ?? ''}`
      : '';
    lines.push(
      `  ${inv.invocationId} ${inv.command} ${inv.phase} for ${formatDuration(Date.now() - inv.startedAt)}${progress}`,
    );
  }
  return lines.join('\n');
}
