import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createGatewayClient } from '@loopgate/client';
import { resolveStateDir } from '@loopgate/protocol';
import { Argument, type Command } from 'commander';
import JSON5 from 'json5';
import { resolveClientTarget } from '../connect.js';

/**
 * `loopgate completion bash|zsh|fish|powershell` prints a script for the
 * shell; the script calls the hidden `loopgate complete -- <words>` on every
 * TAB, which answers from the command tree (commands, flags, choices) plus
 * two live sources: node names from the gateway and context names from the
 * config. Both are read before the library's synchronous handlers run.
 */

/** A TAB must feel instant: a gateway that does not answer in this long adds no names. */
const NODE_LOOKUP_BUDGET_MS = 800;

type Candidate = { value: string; description: string };
const live: { nodes: Candidate[]; contexts: Candidate[] } = { nodes: [], contexts: [] };

/** Arguments and options whose values are node names, or pairing request ids (which accept names too). */
const NODE_ARGUMENTS = new Set(['node', 'request']);

/** The shells the library writes scripts for. */
const SHELLS = ['bash', 'zsh', 'fish', 'powershell'] as const;

/**
 * Cheap stubs in the tree every command builds; the library and the tree
 * walk load only when a shell asks (so `health` pays nothing for them).
 */
export function registerCompletionCommands(program: Command, buildTree: () => Command): void {
  program
    .command('completion')
    .description('print the shell completion script (e.g. source <(loopgate completion bash))')
    .addArgument(new Argument('<shell>', 'the shell').choices(SHELLS))
    .action(async (shell: string) => {
      (await completionTree(buildTree)).setup('loopgate', 'loopgate', shell);
    });
  program
    .command('complete', { hidden: true })
    .description('answer one TAB: the candidates for the last word')
    .argument('[words...]')
    .allowUnknownOption()
    .helpOption(false)
    .action(async (words: string[]) => {
      live.contexts = contextNames();
      if (wantsNodeNames(words)) live.nodes = await nodeNames();
      (await completionTree(buildTree)).parse(words);
    });
}

/** The library's view of the whole command tree, with the live sources attached. */
async function completionTree(buildTree: () => Command) {
  const { default: tab } = await import('@bomb.sh/tab/commander');
  const completion = tab(buildTree(), { completionCommandName: 'completion' });
  for (const [path, command] of completion.commands) {
    for (const [name, argument] of command.arguments) {
      if (NODE_ARGUMENTS.has(name) && path.startsWith('nodes '))
        argument.handler = (complete) => offer(complete, live.nodes);
      if (path === 'context use' && name === 'name')
        argument.handler = (complete) => offer(complete, live.contexts);
    }
    const nodeOption = command.options.get('node');
    if (nodeOption) nodeOption.handler = (complete) => offer(complete, live.nodes);
    const contextOption = command.options.get('context');
    if (contextOption) contextOption.handler = (complete) => offer(complete, live.contexts);
  }
  return completion;
}

function offer(complete: (value: string, description: string) => void, list: Candidate[]): void {
  for (const c of list) complete(c.value, c.description);
}

/** Only a TAB on a node argument pays for a gateway round trip. */
function wantsNodeNames(words: string[]): boolean {
  const previous = words.at(-2);
  if (previous === '--node') return true;
  const [first, second] = words.filter((w) => !w.startsWith('-'));
  return (
    first === 'nodes' &&
    ['describe', 'approve', 'reject', 'remove', 'invoke'].includes(second ?? '')
  );
}

/**
 * `nodes.list` from the gateway the other commands would use, bounded;
 * never through an SSH tunnel (seconds to set up). Any failure means no
 * names: a completion must not print errors into the shell.
 */
async function nodeNames(): Promise<Candidate[]> {
  let client: ReturnType<typeof createGatewayClient> | undefined;
  let timer: NodeJS.Timeout | undefined;
  try {
    const target = resolveClientTarget({});
    if (target.ssh) return [];
    client = createGatewayClient({
      url: target.url,
      token: target.token,
      password: target.password,
      tlsFingerprint: target.tlsFingerprint,
      retry: false,
      handshakeTimeoutMs: NODE_LOOKUP_BUDGET_MS,
      clientName: 'loopgate-completion',
    });
    const budget = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('too slow')), NODE_LOOKUP_BUDGET_MS);
    });
    const nodes = await Promise.race([client.nodes.list.query(), budget]);
    return nodes.map((n) => ({
      value: n.name,
      description: 'state' in n ? String(n.state) : 'pending',
    }));
  } catch {
    // Unreachable, refused, too slow: complete without node names.
    return [];
  } finally {
    clearTimeout(timer);
    // Completion must never fail the shell: a close error after a timeout has nothing to report to.
    await client?.close().catch(() => {});
  }
}

/** The keys of `contexts` in the active profile's config file (LOOPGATE_CONFIG when set). */
function contextNames(): Candidate[] {
  const path = process.env.LOOPGATE_CONFIG
    ? resolve(process.env.LOOPGATE_CONFIG)
    : join(resolveStateDir(), 'config.json5');
  try {
    const config = JSON5.parse(readFileSync(path, 'utf8')) as { contexts?: unknown };
    const contexts = config.contexts;
    if (!contexts || typeof contexts !== 'object' || Array.isArray(contexts)) return [];
    return Object.keys(contexts).map((name) => ({ value: name, description: 'context' }));
  } catch {
    // No config, or one the commands themselves will report: nothing to offer.
    return [];
  }
}
