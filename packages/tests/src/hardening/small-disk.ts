import { execFile } from 'node:child_process';
import { open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { makeTempDir } from '../gateway-harness.js';
import { requireRealPart } from '../real-parts.js';

const run = promisify(execFile);

export type SmallDisk = {
  /** The mount point: a tmpfs of the requested size. */
  dir: string;
  /** Writes a filler file until the disk reports ENOSPC. */
  fill(): Promise<void>;
  /** Removes the filler, giving the space back. */
  free(): Promise<void>;
  unmount(): Promise<void>;
};

/**
 * A real, tiny filesystem (tmpfs) to run out of space on. Needs root (or
 * CAP_SYS_ADMIN); returns the reason instead when mounting is not allowed.
 */
export async function mountSmallDisk(
  sizeKiB: number,
): Promise<SmallDisk | { unavailable: string }> {
  const dir = await makeTempDir('loopgate-smalldisk-');
  try {
    await run('mount', ['-t', 'tmpfs', '-o', `size=${sizeKiB}k,mode=0700`, 'tmpfs', dir]);
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    return { unavailable: `cannot mount a tmpfs here: ${(error as Error).message.split('\n')[0]}` };
  }
  const filler = join(dir, 'filler');
  return {
    dir,
    async fill() {
      const handle = await open(filler, 'a');
      try {
        const chunk = Buffer.alloc(4096, 1);
        for (;;) await handle.write(chunk);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
      } finally {
        await handle.close();
      }
    },
    free: () => rm(filler, { force: true }),
    async unmount() {
      await run('umount', [dir]).catch(() => run('umount', ['-l', dir]));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * The mounted disk for a test; when none could be mounted the test fails
 * under CI and is skipped elsewhere (see real-parts.ts).
 */
export function requireSmallDisk(
  disk: SmallDisk | { unavailable: string },
  sizeKiB: number,
  context: { skip: (note?: string) => never },
): SmallDisk {
  requireRealPart(
    `a ${sizeKiB} KiB tmpfs (mount -t tmpfs, as root)`,
    'dir' in disk ? { available: true } : { available: false, reason: disk.unavailable },
    context,
  );
  return disk as SmallDisk;
}
