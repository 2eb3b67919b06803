import type { AbsoluteResult, BenchReport, RatioResult, SystemFigures } from './results.js';

const count = (n: number) => Math.round(n).toLocaleString('en-US');
const ms = (n: number | undefined) =>
  n === undefined || Number.isNaN(n)
    ? '—'
    : n >= 10
      ? n.toFixed(0)
      : n < 1
        ? n.toFixed(3)
        : n.toFixed(2);
const ratio = (n: number | undefined) => (n === undefined ? '—' : n.toFixed(2));
const verdict = (pass: boolean, hasTarget: boolean) =>
  !hasTarget ? 'info' : pass ? 'PASS' : '**FAIL**';

function latency(f: SystemFigures | undefined): string {
  return f?.p50Ms === undefined ? '—' : `${ms(f.p50Ms)} / ${ms(f.p99Ms)}`;
}

function cpu(f: SystemFigures): string {
  const us = (n: number | undefined) => (n === undefined || Number.isNaN(n) ? '—' : n.toFixed(1));
  return `${us(f.serverCpuUs)} + ${us(f.clientCpuUs)}`;
}

/** `0.41 → +0.12`: the earlier figure and how far this run moved from it. */
function versus(now: number, earlier: number | undefined, digits: number): string {
  if (earlier === undefined) return '—';
  const delta = now - earlier;
  return `${earlier.toFixed(digits)} (${delta >= 0 ? '+' : '−'}${Math.abs(delta).toFixed(digits)})`;
}

function ratioRow(r: RatioResult, compare: boolean): string {
  const target = r.floor === undefined ? '—' : `≥ ${r.floor} (goal ${r.goal})`;
  return `| ${r.title} | ${count(r.loopgate.median)} ${r.unit} | ${count(r.raw.median)} | **${ratio(r.ratio)}** | ${target} | ${
    r.stock ? `${count(r.stock.median)} (${ratio(r.stockRatio)})` : '—'
  } | ${latency(r.loopgate)} | ${latency(r.raw)} | ${cpu(r.loopgate)} / ${cpu(r.raw)} | ${verdict(r.pass, r.floor !== undefined)} |${
    compare ? ` ${versus(r.ratio, r.earlier, 2)} |` : ''
  }`;
}

/** Multiples (`× p50`) keep two decimals; everything else is a whole count or `ms`. */
function figure(value: number, unit: string): string {
  if (unit === 'ms') return ms(value);
  if (unit.startsWith('×')) return value.toFixed(2);
  return count(value);
}

function absoluteRow(r: AbsoluteResult, compare: boolean): string {
  const target =
    r.target === undefined ? '—' : `${r.atLeast ? '≥' : '≤'} ${figure(r.target, r.unit)} ${r.unit}`;
  const digits = r.unit.startsWith('×') ? 2 : 0;
  return `| ${r.title} | ${figure(r.value, r.unit)} ${r.unit} | ${target} | ${r.note ?? ''} | ${verdict(r.pass, r.target !== undefined)} |${
    compare ? ` ${versus(r.value, r.earlier, digits)} |` : ''
  }`;
}

/** The markdown tables printed after a run and kept in bench/README.md. */
export function renderTables(report: BenchReport): string {
  const m = report.machine;
  const compare = report.comparedWith !== undefined;
  const earlierHead = compare ? ` earlier (${report.comparedWith!.startedAt}) |` : '';
  const earlierRule = compare ? '---|' : '';
  const lines = [
    `Run ${report.startedAt} · ${m.nproc} × ${m.cpu} · ${m.totalMemMb} MB · Node ${m.node} · ${m.platform} · ${report.rounds} rounds per shape · ${(report.durationMs / 1000).toFixed(0)} s total`,
    ...(compare
      ? [`Compared with ${report.comparedWith!.file}, run ${report.comparedWith!.startedAt}`]
      : []),
    '',
    `| shape | Loopgate (median) | raw ws (median) | Loopgate / raw | floor | stock tRPC (/ raw) | Loopgate p50 / p99 ms | raw p50 / p99 ms | CPU µs/op server + client: Loopgate / raw | |${earlierHead}`,
    `|---|---|---|---|---|---|---|---|---|---|${earlierRule}`,
    ...report.results
      .filter((r): r is RatioResult => r.kind === 'ratio')
      .map((r) => ratioRow(r, compare)),
    '',
    `| figure | value | target | how | |${earlierHead}`,
    `|---|---|---|---|---|${earlierRule}`,
    ...report.results
      .filter((r): r is AbsoluteResult => r.kind === 'absolute')
      .map((r) => absoluteRow(r, compare)),
  ];
  for (const s of report.skipped) lines.push('', `skipped ${s.id}: ${s.reason}`);
  lines.push('', report.pass ? 'Every floor reached.' : 'Some floors NOT reached (marked FAIL).');
  return lines.join('\n');
}
