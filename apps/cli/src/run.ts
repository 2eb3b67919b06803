import { forTerminal } from '@loopgate/protocol';
import { CommanderError } from 'commander';
import { describeError, ExitCode, errorRecord, exitCodeFor, UsageError } from './exit-codes.js';
import { buildProgram } from './program.js';

/**
 * Parses and runs one command line; every failure ends here for the one
 * exit-code policy. Under `--json` the failure is one line on stderr,
 * `{"error":{"code","message","hint"}}` — stderr, so a pipe reading stdout
 * never mistakes an error for a result — with the same exit code.
 */
export async function runProgram(argv: string[]): Promise<void> {
  const json = argv.includes('--json');
  const program = buildProgram({ quietUsageErrors: json });
  try {
    await program.parseAsync(argv);
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version end here too, with exit code 0
      if (error.exitCode === 0) {
        process.exitCode = ExitCode.ok;
        return;
      }
      // without --json commander already printed its message (usage, unknown option)
      if (json) printJsonError(new UsageError(error.message.replace(/^error: /, '')));
      process.exitCode = ExitCode.usage;
      return;
    }
    if (json) printJsonError(error);
    else process.stderr.write(`loopgate: ${forTerminal(describeError(error))}\n`);
    process.exitCode = exitCodeFor(error);
  }
}

function printJsonError(error: unknown): void {
  process.stderr.write(`${JSON.stringify({ error: errorRecord(error) })}\n`);
}
