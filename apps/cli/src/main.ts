#!/usr/bin/env node
import { CommanderError } from 'commander';
import { describeError, ExitCode, exitCodeFor } from './exit-codes.js';
import { buildProgram } from './program.js';

// Ink 6 only obeys FORCE_COLOR=0; NO_COLOR must be mapped before it loads.
if (process.env.NO_COLOR && !process.env.FORCE_COLOR) process.env.FORCE_COLOR = '0';

const program = buildProgram();

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    // commander already printed its message (usage, unknown option, --help, --version)
    process.exitCode = error.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
  } else {
    process.stderr.write(`loopgate: ${describeError(error)}\n`);
    process.exitCode = exitCodeFor(error);
  }
}
