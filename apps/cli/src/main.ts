#!/usr/bin/env node
import { LOOPGATE_VERSION } from '@loopgate/protocol/constants';

// Ink 6 only obeys FORCE_COLOR=0; NO_COLOR must be mapped before it loads.
if (process.env.NO_COLOR && !process.env.FORCE_COLOR) process.env.FORCE_COLOR = '0';

// A reader that goes away (`loopgate events --follow | head -5`) ends the
// command the way a pipe should end it: quietly and successfully, not with
// an unhandled EPIPE stack trace.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});

const args = process.argv.slice(2);
if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) {
  // Answered before the command tree (commander, zod, the client) is even loaded: scripts call it often.
  process.stdout.write(`${LOOPGATE_VERSION}\n`);
} else {
  const { runProgram } = await import('./run.js');
  await runProgram(process.argv);
}
