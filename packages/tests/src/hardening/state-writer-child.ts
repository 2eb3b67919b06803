/**
 * Child process for the crash-consistency test: the state writers named (or
 * all of them), each in its own folder under the directory given, looping
 * until killed. Prints WRITING once every one of them has put something on
 * disk.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { runWriter, STATE_FILE_KINDS, type StateFileKind } from './state-writers.js';

const root = process.argv[2];
if (!root) throw new Error('usage: state-writer-child <dir> [kind,kind,...]');
const kinds = (process.argv[3]?.split(',') as StateFileKind[] | undefined) ?? [...STATE_FILE_KINDS];
let pending = kinds.length;
for (const kind of kinds) {
  const dir = join(root, kind);
  await mkdir(dir, { recursive: true });
  void runWriter(kind, dir, () => {
    if (--pending === 0) process.stdout.write('WRITING\n');
  }).catch((error: unknown) => {
    process.stderr.write(
      `${kind} writer failed: ${error instanceof Error ? error.message : String(error)}\n`,
    );
    process.exit(1);
  });
}
