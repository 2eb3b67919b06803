import { randomUUID } from 'node:crypto';
import type { GatewayClient } from '@loopgate/client';
import {
  type AgentRunEvent,
  AgentRunResult,
  forTerminal,
  GatewayError,
  SendOutput,
  type SessionInfo,
  SessionsDeleteOutput,
  SessionsHistoryOutput,
  SessionsListOutput,
  SessionsResetOutput,
  type TranscriptEntry,
} from '@loopgate/protocol';
import type { Command } from 'commander';
import { addClientOptions, type ClientFlags, withClient } from '../connect.js';
import { ExitCode, UsageError } from '../exit-codes.js';
import { formatDuration, note, printResult } from '../output.js';

type AgentFlags = ClientFlags & { session?: string; timeout?: string; idempotencyKey?: string };
type SendFlags = ClientFlags & {
  channel: string;
  to: string;
  idempotencyKey?: string;
  createSession?: boolean;
};

const DEFAULT_WAIT_MS = 10 * 60_000;

/** `loopgate send`, `loopgate agent`, `loopgate sessions …`: talking through channels and to the agent. */
export function registerAgentCommands(program: Command): void {
  registerSendAndAgent(program);
  // `gateway send` / `gateway agent`: the reference system's remote-access spelling, same commands
  const gateway = program.commands.find((c) => c.name() === 'gateway');
  if (gateway) registerSendAndAgent(gateway);
  registerSessionsCommands(program);
}

function registerSendAndAgent(program: Command): void {
  addClientOptions(
    program
      .command('send')
      .description('deliver a message through a channel (telegram, webhook, webchat)')
      .requiredOption('--channel <channel>', 'telegram, webhook or webchat')
      .requiredOption('--to <peer>', 'Telegram chat id, webhook recipient, or webchat session id')
      .option('--idempotency-key <key>', 'repeating a key never sends twice (default: a new key)')
      .option('--create-session', 'webchat: start the session --to names if it does not exist')
      .argument('<text...>', 'the message'),
  ).action(async (words: string[], flags: SendFlags) => {
    const text = words.join(' ');
    const out = await withClient(flags, (c) =>
      c.send.mutate({
        channel: flags.channel,
        to: flags.to,
        text,
        idempotencyKey: flags.idempotencyKey ?? randomUUID(),
        ...(flags.createSession ? { createSession: true } : {}),
      }),
    );
    printResult(out, {
      json: flags.json,
      schema: SendOutput,
      human: (o) =>
        `sent via ${o.channel} to ${o.to} · message ${o.messageId}${o.deduplicated ? ' (already sent with this key; not sent again)' : ''}`,
    });
  });

  addClientOptions(
    program
      .command('agent')
      .description(
        'run one agent turn and stream it (assistant text on stdout, tool calls on stderr)',
      )
      .option('--session <id>', 'continue this session (created if new); default: a new session')
      .option(
        '--timeout <ms>',
        `how long to wait for the run to finish (default ${DEFAULT_WAIT_MS})`,
      )
      .option(
        '--idempotency-key <key>',
        'repeating a key returns the first run instead of starting another',
      )
      .argument('<message...>', 'what to say'),
  ).action(async (words: string[], flags: AgentFlags) => {
    const timeoutMs = parseTimeout(flags.timeout);
    const result = await withClient(flags, async (client) => {
      const started = await client.agent.mutate({
        message: words.join(' '),
        idempotencyKey: flags.idempotencyKey ?? randomUUID(),
        ...(flags.session ? { sessionId: flags.session } : {}),
      });
      if (flags.json) return client['agent.wait'].query({ runId: started.runId, timeoutMs });
      note(
        `run ${started.runId} · session ${started.sessionId}${started.deduplicated ? ' (already started with this key)' : ''}`,
      );
      return streamRun(client, started.runId, timeoutMs);
    });
    if (flags.json) printResult(result, { json: true, schema: AgentRunResult, human: () => '' });
    else if (result.state !== 'completed')
      note(
        `run ${result.state}${result.error ? `: ${result.error.code}: ${result.error.message}` : ''}`,
      );
    if (result.state !== 'completed') process.exitCode = ExitCode.gatewayError;
  });
}

function registerSessionsCommands(program: Command): void {
  const sessions = program
    .command('sessions')
    .description('conversations with the agent and their transcripts');

  addClientOptions(
    sessions
      .command('list')
      .description('sessions, most recently active first')
      .option('--channel <channel>', 'only this channel (telegram, webhook, webchat)')
      .option('--limit <n>', 'at most this many (default 100)'),
  ).action(async (flags: ClientFlags & { channel?: string; limit?: string }) => {
    const limit = flags.limit === undefined ? undefined : parseCount(flags.limit, '--limit');
    const list = await withClient(flags, (c) =>
      c.sessions.list.query({
        ...(flags.channel ? { channel: flags.channel } : {}),
        ...(limit ? { limit } : {}),
      }),
    );
    printResult(list, { json: flags.json, schema: SessionsListOutput, human: renderSessions });
  });

  addClientOptions(
    sessions
      .command('history')
      .description("a session's transcript: messages, tool calls with node results, errors")
      .argument('<session>', 'session id (see loopgate sessions list)')
      .option('--limit <n>', 'the last n entries (default 100)')
      .option('--before <seq>', 'entries before this sequence number (to page back)'),
  ).action(async (sessionId: string, flags: ClientFlags & { limit?: string; before?: string }) => {
    const page = await withClient(flags, (c) =>
      c.sessions.history.query({
        sessionId,
        ...(flags.limit ? { limit: parseCount(flags.limit, '--limit') } : {}),
        ...(flags.before ? { before: parseCount(flags.before, '--before') } : {}),
      }),
    );
    printResult(page, { json: flags.json, schema: SessionsHistoryOutput, human: renderHistory });
  });

  addClientOptions(
    sessions
      .command('reset')
      .description('start a session over (its transcript is archived, not deleted)')
      .argument('<session>', 'session id'),
  ).action(async (sessionId: string, flags: ClientFlags) => {
    const out = await withClient(flags, (c) => c.sessions.reset.mutate({ sessionId }));
    printResult(out, {
      json: flags.json,
      schema: SessionsResetOutput,
      human: (o) => `reset ${o.sessionId} · ${o.cleared} entries archived`,
    });
  });

  addClientOptions(
    sessions
      .command('delete')
      .description(
        'delete a session and its transcripts, archived ones included (operator.admin); a channel peer writing again starts a fresh one',
      )
      .argument('<session>', 'session id (see loopgate sessions list)'),
  ).action(async (sessionId: string, flags: ClientFlags) => {
    const out = await withClient(flags, (c) => c.sessions.delete.mutate({ sessionId }));
    printResult(out, {
      json: flags.json,
      schema: SessionsDeleteOutput,
      human: (o) =>
        `deleted ${o.sessionId} · ${o.entries} entries${o.archives > 0 ? `, ${o.archives} archived transcript(s)` : ''}`,
    });
  });
}

/**
 * Prints the run as it happens and resolves with its result. Ctrl-C cancels
 * the run (it would otherwise go on without anyone watching).
 */
async function streamRun(
  client: GatewayClient,
  runId: string,
  timeoutMs: number,
): Promise<AgentRunResult> {
  const printer = new RunPrinter();
  let onSigint: (() => void) | undefined;
  const finished = new Promise<AgentRunResult | undefined>((resolve, reject) => {
    let last: AgentRunResult | undefined;
    const subscription = client['agent.events'].subscribe(
      { runId },
      {
        onData: (envelope) => {
          const event = (envelope as { data: AgentRunEvent }).data;
          printer.print(event);
          if (
            event.type === 'run.state' &&
            ['completed', 'failed', 'cancelled'].includes(event.state)
          ) {
            last = {
              runId,
              sessionId: event.sessionId,
              state: event.state,
              toolCalls: printer.toolCalls,
              queuedAt: 0,
              ...(event.text !== undefined ? { text: event.text } : {}),
              ...(event.error ? { error: event.error } : {}),
            };
          }
        },
        onComplete: () => resolve(last),
        onError: (error) => reject(error),
      },
    );
    onSigint = () => {
      note(`\ncancelling run ${runId}…`);
      client['agent.cancel'].mutate({ runId }).catch((error: unknown) => {
        subscription.unsubscribe();
        reject(error);
      });
    };
    process.once('SIGINT', onSigint);
  });
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new GatewayError(
            'TIMEOUT',
            `run ${runId} is still going after ${timeoutMs} ms; it keeps running (loopgate gateway call agent.wait --params '{"runId":"${runId}"}')`,
          ),
        ),
      timeoutMs,
    );
  });
  try {
    const streamed = await Promise.race([finished, timeout]);
    printer.end();
    // The final result from the gateway itself (timestamps, tool count) rather than what was pieced together.
    return streamed
      ? await client['agent.wait'].query({ runId, timeoutMs: 5_000 })
      : await client['agent.wait'].query({ runId, timeoutMs });
  } catch (error) {
    printer.end();
    if (error instanceof GatewayError && error.code !== 'TIMEOUT') {
      throw new GatewayError(
        error.code,
        `${error.message} — if the gateway is still running, run ${runId} goes on without this terminal (follow it: loopgate gateway call agent.wait --params '{"runId":"${runId}"}'); if the gateway stopped or restarted, the run ended with it (see loopgate sessions history)`,
      );
    }
    throw error;
  } finally {
    clearTimeout(timer);
    if (onSigint) process.off('SIGINT', onSigint);
  }
}

/** Assistant text to stdout as it streams; everything else (states, tool calls) to stderr. */
class RunPrinter {
  toolCalls = 0;
  #round: number | undefined;
  #midLine = false;

  print(event: AgentRunEvent): void {
    switch (event.type) {
      case 'assistant.delta':
        if (this.#round !== undefined && event.round !== this.#round) this.#newline();
        this.#round = event.round;
        process.stdout.write(forTerminal(event.text));
        this.#midLine = !event.text.endsWith('\n');
        break;
      case 'tool.started':
        this.toolCalls++;
        this.#newline();
        note(`→ ${event.tool} ${compact(event.params)}`);
        break;
      case 'tool.finished':
        note(
          event.ok
            ? `← ok (${event.durationMs} ms) ${compact(event.result)}`
            : `← ${event.error?.code ?? 'failed'}: ${event.error?.message ?? ''}`,
        );
        break;
      case 'run.state':
        if (event.state === 'queued' && (event.queuePosition ?? 0) > 0)
          note(`queued: ${event.queuePosition} run(s) ahead in this session`);
        break;
      case 'gap':
        note('(some events were dropped before they could be shown)');
        break;
      default:
        break;
    }
  }

  end(): void {
    this.#newline();
  }

  #newline(): void {
    if (this.#midLine) process.stdout.write('\n');
    this.#midLine = false;
  }
}

function compact(value: unknown, max = 160): string {
  const text = JSON.stringify(value) ?? '';
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

function parseTimeout(value: string | undefined): number {
  if (value === undefined) return DEFAULT_WAIT_MS;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 600_000)
    throw new UsageError('--timeout must be a whole number of milliseconds, 0-600000');
  return n;
}

function parseCount(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1)
    throw new UsageError(`${flag} must be a positive whole number`);
  return n;
}

function ago(ts: number): string {
  return `${formatDuration(Math.max(0, Date.now() - ts))} ago`;
}

function renderSessions(list: { sessions: SessionInfo[]; total: number }): string {
  if (list.sessions.length === 0) return 'no sessions yet (loopgate agent "hello" starts one)';
  const rows = list.sessions.map((s) => {
    const who = s.peer ? `${s.channel}:${s.peer}` : s.channel;
    const activity = s.activeRunId
      ? ` · running${s.queuedRuns ? ` (+${s.queuedRuns} queued)` : ''}`
      : '';
    const last = s.lastText ? ` · “${s.lastText.replace(/\s+/g, ' ').slice(0, 60)}”` : '';
    return `${s.id}  ${who} · ${s.entries} entries · ${ago(s.updatedAt)}${activity}${last}`;
  });
  const more =
    list.total > list.sessions.length
      ? `\n(${list.total - list.sessions.length} more; --limit to see them)`
      : '';
  return rows.join('\n') + more;
}

function renderHistory(page: {
  sessionId: string;
  entries: TranscriptEntry[];
  hasMore: boolean;
  cut?: true | undefined;
}): string {
  if (page.entries.length === 0) return `${page.sessionId}: empty transcript`;
  const lines = page.entries.map(
    (e) => `#${e.seq} ${new Date(e.ts).toISOString().slice(11, 19)} ${describeEntry(e)}`,
  );
  const first = page.entries[0]!.seq;
  // A cut page is shorter than asked for: say so, or it reads as the start of the transcript's tail.
  if (page.cut)
    lines.unshift(
      `(page cut short: the gateway stopped at its per-call read bound; earlier entries: --before ${first})`,
    );
  else if (page.hasMore) lines.unshift(`(earlier entries: --before ${first})`);
  return lines.join('\n');
}

function describeEntry(e: TranscriptEntry): string {
  switch (e.kind) {
    case 'user':
      return `user${e.source.peer ? ` (${e.source.channel} ${e.source.peer})` : ''}: ${e.text}`;
    case 'assistant':
      return `assistant: ${e.text}`;
    case 'tool_call':
      return `→ ${e.tool} (${e.nodeId} ${e.command}) ${compact(e.params)}`;
    case 'tool_result':
      return e.ok
        ? `← ok (${e.durationMs} ms) ${compact(e.result)}`
        : `← ${e.error?.code ?? 'failed'}: ${e.error?.message ?? ''}`;
    case 'turn_end':
      return `turn ${e.state}${e.error ? `: ${e.error.code}: ${e.error.message}` : ''} (${formatDuration(e.durationMs)})`;
    case 'outbound':
      return `sent via ${e.channel} to ${e.to}${e.runId ? ' (reply)' : ''}: ${e.text}`;
  }
}
