export type DoctorStatus = 'ok' | 'warn' | 'fail';

/** One line of `loopgate doctor`: what was checked, what was seen, and for a problem the exact fix. */
export type DoctorCheck = {
  check: string;
  status: DoctorStatus;
  detail: string;
  fix?: string;
  /** What `--fix` changed for this line (it then reads ok). */
  fixed?: string;
};

export type DoctorContext = {
  stateDir: string;
  /** Repair what is safe (modes, a stale lock, stale tunnel records). */
  fix: boolean;
};
