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

function ratioRow(r: RatioResult): string {
  const target = r.floor === undefined ? '—' : `≥ ${r.floor} (goal ${r.goal})`;
  return `| ${r.title} | ${count(r.loopgate.median)} ${r.unit} | ${count(r.raw.median)} | **${ratio(r.ratio)}** | ${target} | ${
    r.stock ? `${count(r.stock.median)} (${ratio(r.stockRatio)})` : '—'
  } | ${latency(r.loopgate)} | ${latency(r.raw)} | ${cpu(r.loopgate)} / ${cpu(r.raw)} | ${verdict(r.pass, r.floor !== undefined)} |`;
}

function absoluteValue(r: AbsoluteResult): string {
  return `${r.unit === 'ms' ? ms(r.value) : count(r.value)} ${r.unit}`;
}

function absoluteRow(r: AbsoluteResult): string {
  const target =
    r.target === undefined ? '—' : `${r.atLeast ? '≥' : '≤'} ${count(r.target)} ${r.unit}`;
  return `| ${r.title} | ${absoluteValue(r)} | ${target} | ${r.note ?? ''} | ${verdict(r.pass, r.target !== undefined)} |`;
}

/** The markdown tables printed after a run and kept in bench/README.md. */
export function renderTables(report: BenchReport): string {
  const m = report.machine;
  const lines = [
    `Run ${report.startedAt} · ${m.nproc} × ${m.cpu} · ${m.totalMemMb} MB · Node ${m.node} · ${m.platform} · ${report.rounds} rounds per shape · ${(report.durationMs / 1000).toFixed(0)} s total`,
    '',
    '| shape | Loopgate (median) | raw ws (median) | Loopgate / raw | floor | stock tRPC (/ raw) | Loopgate p50 / p99 ms | raw p50 / p99 ms | CPU µs/op server + client: Loopgate / raw | |',
    '|---|---|---|---|---|---|---|---|---|---|',
    ...report.results.filter((r): r is RatioResult => r.kind === 'ratio').map(ratioRow),
    '',
    '| figure | value | target | how | |',
    '|---|---|---|---|---|',
    ...report.results.filter((r): r is AbsoluteResult => r.kind === 'absolute').map(absoluteRow),
  ];
  for (const s of report.skipped) lines.push('', `skipped ${s.id}: ${s.reason}`);
  lines.push('', report.pass ? 'Every floor reached.' : 'Some floors NOT reached (marked FAIL).');
  return lines.join('\n');
}
