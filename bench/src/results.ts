/** One system's figures for a shape: throughput per round, its median, latency over all rounds. */
export type SystemFigures = {
  rounds: number[];
  median: number;
  p50Ms?: number;
  p99Ms?: number;
  /** Server CPU (user + system) per request or delivered event, in µs. */
  serverCpuUs?: number;
  /** The measuring client's CPU per request or event, in µs (the bench process). */
  clientCpuUs?: number;
};

/** A shape compared with the raw-ws baseline from the same run. */
export type RatioResult = {
  kind: 'ratio';
  id: string;
  title: string;
  unit: string;
  /** Frame sizes on the Loopgate wire, reproduced byte for byte by the raw baseline. */
  frameBytes: Record<string, number>;
  loopgate: SystemFigures;
  raw: SystemFigures;
  /** tRPC 11 stock adapter and link, for reference (not every shape). */
  stock?: SystemFigures;
  ratio: number;
  stockRatio?: number;
  floor?: number;
  goal?: number;
  pass: boolean;
  note?: string;
  /** The same shape's ratio in the run given to `--compare`. */
  earlier?: number;
};

/** A figure that needs no peer (cold start, memory, errors). */
export type AbsoluteResult = {
  kind: 'absolute';
  id: string;
  title: string;
  unit: string;
  value: number;
  /** `value` must be ≤ (or, for `atLeast`, ≥) the target. */
  target?: number;
  atLeast?: boolean;
  pass: boolean;
  /** Supporting figures (per-round values, the raw baseline, ...). */
  details: Record<string, unknown>;
  note?: string;
  /** The same figure in the run given to `--compare`. */
  earlier?: number;
};

export type ShapeResult = RatioResult | AbsoluteResult;

export type BenchReport = {
  startedAt: string;
  durationMs: number;
  machine: { nproc: number; cpu: string; node: string; platform: string; totalMemMb: number };
  rounds: number;
  results: ShapeResult[];
  skipped: { id: string; reason: string }[];
  pass: boolean;
  /** The earlier run `--compare` read (its file and when it ran), when one was given. */
  comparedWith?: { file: string; startedAt: string };
};

/**
 * Attaches each result's figure from an earlier report (matched by shape
 * id): the ratio for ratio shapes, the value for absolute ones.
 */
export function withEarlier(results: ShapeResult[], earlier: BenchReport): ShapeResult[] {
  const before = new Map(
    earlier.results.map((r) => [r.id, r.kind === 'ratio' ? r.ratio : r.value] as const),
  );
  return results.map((r) => {
    const value = before.get(r.id);
    return value === undefined ? r : { ...r, earlier: value };
  });
}

export function ratioResult(
  base: Omit<RatioResult, 'kind' | 'ratio' | 'stockRatio' | 'pass'>,
): RatioResult {
  const ratio = base.loopgate.median / base.raw.median;
  return {
    kind: 'ratio',
    ...base,
    ratio,
    ...(base.stock ? { stockRatio: base.stock.median / base.raw.median } : {}),
    pass: base.floor === undefined || ratio >= base.floor,
  };
}

export function absoluteResult(base: Omit<AbsoluteResult, 'kind' | 'pass'>): AbsoluteResult {
  const pass =
    base.target === undefined ||
    (base.atLeast ? base.value >= base.target : base.value <= base.target);
  return { kind: 'absolute', ...base, pass };
}
