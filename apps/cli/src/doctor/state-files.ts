import { chmod, lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { DoctorCheck, DoctorContext } from './types.js';

/** A state dir holds a few hundred files at most; a runaway one is not walked to the end. */
const MAX_ENTRIES = 5_000;

type Finding = { path: string; mode: number; want: number; uid: number; isDir: boolean };

/**
 * The state dir and everything under it: owned by this user, dirs 0700,
 * files 0600 (tokens, keys, transcripts, logs). `--fix` tightens modes;
 * it never changes ownership (that needs the owner, or root, to decide).
 */
export async function checkStateFiles(ctx: DoctorContext): Promise<DoctorCheck[]> {
  let root: Awaited<ReturnType<typeof lstat>>;
  try {
    root = await lstat(ctx.stateDir);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return [
      code === 'ENOENT'
        ? {
            check: 'state dir',
            status: 'ok',
            detail: `${ctx.stateDir} does not exist yet (the first gateway start creates it, mode 0700)`,
          }
        : {
            check: 'state dir',
            status: 'fail',
            detail: `cannot read ${ctx.stateDir} (${code})`,
            fix: `check the path and its parents: ls -ld ${ctx.stateDir}`,
          },
    ];
  }
  const uid = process.getuid?.() ?? root.uid;
  const findings: Finding[] = [];
  const walk = async (path: string, depth: number) => {
    if (findings.length > MAX_ENTRIES) return;
    const info = await lstat(path);
    if (info.isSymbolicLink()) return;
    const isDir = info.isDirectory();
    findings.push({
      path,
      mode: info.mode & 0o777,
      want: isDir ? 0o700 : 0o600,
      uid: info.uid,
      isDir,
    });
    if (isDir && depth < 6)
      for (const name of await readdir(path)) await walk(join(path, name), depth + 1);
  };
  await walk(ctx.stateDir, 0);

  const checks: DoctorCheck[] = [];
  const foreign = findings.filter((f) => f.uid !== uid);
  checks.push(
    foreign.length === 0
      ? {
          check: 'state ownership',
          status: 'ok',
          detail: `${ctx.stateDir}: ${findings.length} entries, all owned by uid ${uid}`,
        }
      : {
          check: 'state ownership',
          status: 'fail',
          detail: `${foreign.length} entries not owned by uid ${uid}, e.g. ${foreign[0]?.path} (uid ${foreign[0]?.uid})`,
          fix: `sudo chown -R ${uid} ${ctx.stateDir}   (doctor --fix never changes ownership)`,
        },
  );
  // Looser than wanted is the problem; tighter (e.g. 0400) is fine.
  const loose = findings.filter((f) => (f.mode & ~f.want) !== 0);
  if (loose.length === 0) {
    checks.push({
      check: 'state modes',
      status: 'ok',
      detail: 'dirs 0700, files 0600 (or tighter)',
    });
    return checks;
  }
  const sample = loose
    .slice(0, 3)
    .map((f) => `${f.path} ${f.mode.toString(8).padStart(4, '0')}`)
    .join(', ');
  const line: DoctorCheck = {
    check: 'state modes',
    status: 'fail',
    detail: `${loose.length} entries readable by others: ${sample}${loose.length > 3 ? ', …' : ''}`,
    fix: `loopgate doctor --fix   (or: chmod -R go-rwx ${ctx.stateDir})`,
  };
  if (ctx.fix) {
    for (const f of loose) if (f.uid === uid) await chmod(f.path, f.mode & f.want);
    line.status = 'ok';
    line.fixed = `tightened ${loose.length} entries to 0700 (dirs) / 0600 (files)`;
    line.detail = `${loose.length} entries were readable by others`;
  }
  checks.push(line);
  return checks;
}
