/**
 * A stranger asking to pair under keys made up on the spot and leaving at
 * once, for as long as it likes: every request and every lapse wrote a log
 * line (the defaults let 32 requests through per 5 s grace: ~13 lines a
 * second, ~1.1 M lines a day, the log not rotated). A real gateway writing its
 * real log file, raw pairing sockets from 8 loopback addresses (row 62 of
 * docs/hardening.md).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { abandonedPairingRequest } from '../../src/hardening/index.js';
import { makeTempDir, startTestGateway, type TestGateway, waitFor } from '../../src/index.js';

type LogEntry = { msg?: string; heldBack?: number; requestId?: string };

describe('row 62: pairing-request churn and the gateway log', () => {
  const VISITS = 400;
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway({
      stateDir: await makeTempDir('loopgate-pairing-log-'),
      config: {
        logging: { level: 'info' },
        // requests whose node left lapse at once, so the churn is not slowed by the caps
        gateway: { nodes: { pendingGraceMs: 10 } },
      },
    });
  });
  afterAll(() => gw.stop());

  it('row 62: 400 abandoned pairing requests from a stranger write a handful of log lines, each request counted', async () => {
    let asked = 0;
    for (let i = 0; i < VISITS; i++)
      if (await abandonedPairingRequest(gw.url, `127.0.0.${2 + (i % 8)}`, `churn-${i}`)) asked++;
    expect(asked).toBeGreaterThanOrEqual(VISITS / 2);
    // Every abandoned request lapses after its grace (10 ms here).
    await waitFor(() => gw.gateway.services.nodes.listPending().length === 0, {
      what: 'every abandoned request lapsed',
    });
    // Stopping flushes the log (and what it held back) to its file.
    await gw.stop();

    const lines = (await readFile(join(gw.stateDir, 'logs', 'gateway.log'), 'utf8'))
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as LogEntry);
    const requested = lines.filter((l) => l.msg === 'pairing requested');
    const lapsed = lines.filter(
      (l) => l.msg === 'pairing request withdrawn' || l.msg === 'pairing request expired',
    );
    console.log(`row 62: ${requested.length + lapsed.length} lines for ${asked} requests`);
    expect(requested.length + lapsed.length).toBeLessThanOrEqual(2 * 16 + 4);
    const counted = (ls: LogEntry[]) => ls.reduce((sum, l) => sum + 1 + (l.heldBack ?? 0), 0);
    expect(counted(requested)).toBe(asked);
    expect(counted(lapsed)).toBe(asked);
  });
});
