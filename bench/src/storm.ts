/**
 * Reconnect storm (HARDENING row 21): N typed clients with live
 * subscriptions, the gateway process restarted, and how the clients come
 * back. Usage: pnpm storm [--clients 200]
 */
import { parseArgs } from 'node:util';
import { runReconnectStorm } from '../../packages/tests/src/hardening/index.js';

const { values } = parseArgs({
  options: {
    clients: { type: 'string', default: '200' },
    window: { type: 'string', default: '100' },
  },
});
const clients = Number(values.clients);
const result = await runReconnectStorm({
  clients,
  windowMs: Number(values.window),
  log: (line) => process.stderr.write(`${line}\n`),
});
const pct = (share: number) => `${(share * 100).toFixed(1)} %`;
process.stdout.write(
  [
    `reconnect storm: ${result.clients} clients, gateway process restarted`,
    `  gateway down for            ${result.downtimeMs} ms`,
    `  largest share in ${result.windowMs} ms     ${pct(result.peakShare)} (${result.peakInWindow} clients; limit 10 %)`,
    `  all back after restart      ${result.allBackAfterReadyMs} ms (${result.allBackAfterStopMs} ms after the stop)`,
    `  reconnect attempts          ${result.attempts}`,
    `  subscriptions resumed       ${result.resumedSubscriptions}/${result.clients}`,
    '',
  ].join('\n'),
);
process.exitCode =
  result.peakShare <= 0.1 && result.resumedSubscriptions === result.clients ? 0 : 1;
