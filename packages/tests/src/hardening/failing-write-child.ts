/**
 * Child process for the full-disk test: opens one state writer on the
 * directory given and attempts one write, on a disk that is already full (or
 * under a file-size limit of 0), then reports what happened as JSON.
 */
import { openStateWriter, type StateFileKind } from './state-writers.js';

const [kind, dir, version] = process.argv.slice(2) as [StateFileKind, string, string];
try {
  const writer = await openStateWriter(kind, dir);
  await writer.write(Number(version));
  process.stdout.write(`${JSON.stringify({ ok: true })}\n`);
} catch (error) {
  const e = error as Error & { code?: unknown };
  process.stdout.write(
    `${JSON.stringify({ ok: false, name: e.name, code: e.code, message: e.message })}\n`,
  );
}
