import { CommanderError } from 'commander';
import { describeError, ExitCode, exitCodeFor } from './exit-codes.js';
import { buildProgram } from './program.js';

/** Parses and runs one command line; every failure ends here for the one exit-code policy. */
export async function runProgram(argv: string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (error) {
    if (error instanceof CommanderError) {
      // commander already printed its message (usage, unknown option, --help, --version)
      process.exitCode = error.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
    } else {
      process.stderr.write(`loopgate: ${describeError(error)}\n`);
      process.exitCode = exitCodeFor(error);
    }
  }
}
