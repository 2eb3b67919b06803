import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { UsageError } from './exit-codes.js';

/**
 * Secrets on the command line are visible to every local user in `ps` and
 * `/proc/<pid>/cmdline`. Every command that takes `--token` / `--password`
 * also takes `--token-file <path>` / `--password-file <path>` and `-` as the
 * value (read from stdin); a secret given literally still works but earns a
 * one-line warning on stderr.
 */
const SECRET_KINDS = ['token', 'password'] as const;
type SecretKind = (typeof SECRET_KINDS)[number];

/** A token or password file is a few dozen bytes; refuse to slurp anything big. */
const MAX_SECRET_BYTES = 64 * 1024;

/**
 * Runs before every action (a `preAction` hook on the program): replaces
 * `--token-file`, `--token -` and the password equivalents with the secret
 * itself, so the commands only ever see `flags.token` / `flags.password`.
 */
export async function resolveSecretFlags(
  command: Command,
  io: { stdin: NodeJS.ReadableStream; warn: (line: string) => void } = {
    stdin: process.stdin,
    warn: (line) => process.stderr.write(`${line}\n`),
  },
): Promise<void> {
  const options = command.opts<Record<string, unknown>>();
  for (const kind of SECRET_KINDS) {
    const value = options[kind];
    const file = options[`${kind}File`];
    if (typeof file === 'string') {
      if (value !== undefined) throw new UsageError(`give --${kind} or --${kind}-file, not both`);
      command.setOptionValue(kind, await secretFromFile(file, kind));
    } else if (value === '-') {
      command.setOptionValue(kind, await secretFromStdin(io.stdin, kind));
    } else if (typeof value === 'string') {
      io.warn(
        `loopgate: warning: a ${kind} given with --${kind} is visible to other users of this machine (ps); prefer --${kind}-file <path>, --${kind} - (stdin) or LOOPGATE_GATEWAY_${kind.toUpperCase()}`,
      );
    }
  }
}

async function secretFromFile(path: string, kind: SecretKind): Promise<string> {
  let text: string;
  try {
    const bytes = await readFile(path);
    if (bytes.length > MAX_SECRET_BYTES)
      throw new UsageError(`--${kind}-file ${path} is over ${MAX_SECRET_BYTES} bytes`);
    text = bytes.toString('utf8');
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new UsageError(
      `cannot read --${kind}-file ${path} (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
    );
  }
  return nonEmptySecret(text, `--${kind}-file ${path}`);
}

async function secretFromStdin(stdin: NodeJS.ReadableStream, kind: SecretKind): Promise<string> {
  let text = '';
  for await (const chunk of stdin) {
    text += chunk.toString();
    if (text.length > MAX_SECRET_BYTES)
      throw new UsageError(`--${kind} - read over ${MAX_SECRET_BYTES} bytes from stdin`);
  }
  return nonEmptySecret(text, `--${kind} - (stdin)`);
}

/** The first line, without its line ending: `echo $TOKEN > file` must work. */
function nonEmptySecret(text: string, from: string): string {
  const secret = (text.split(/\r?\n/, 1)[0] ?? '').trim();
  if (!secret) throw new UsageError(`${from} is empty`);
  return secret;
}
