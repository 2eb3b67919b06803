// @ts-check
/**
 * `pnpm mutation [target ...] [-- stryker options]`: runs Stryker once per
 * target of targets.mjs (all of them when none is named), one after the
 * other, then prints the score table and every surviving mutant from the
 * JSON reports (reports/mutation/<target>/mutation.json).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mutationTargets } from './targets.mjs';

const args = process.argv.slice(2);
const split = args.indexOf('--');
const named = split === -1 ? args : args.slice(0, split);
const strykerArgs = split === -1 ? [] : args.slice(split + 1);
const reportOnly = named.includes('--report');
const names = named.filter((a) => a !== '--report');
const unknown = names.filter((name) => !(name in mutationTargets));
if (unknown.length > 0) {
  console.error(
    `unknown mutation target(s): ${unknown.join(', ')}; known: ${Object.keys(mutationTargets).join(', ')}`,
  );
  process.exit(2);
}
const targets = names.length > 0 ? names : Object.keys(mutationTargets);

if (!reportOnly) {
  for (const name of targets) {
    console.log(`\n=== mutation target ${name}: ${mutationTargets[name]?.mutate}`);
    const run = spawnSync('stryker', ['run', ...strykerArgs], {
      stdio: 'inherit',
      env: { ...process.env, LOOPGATE_MUTATION_TARGET: name },
    });
    if (run.status !== 0) {
      console.error(`stryker failed for ${name} (exit ${run.status ?? run.signal})`);
      process.exit(1);
    }
  }
}

/** @typedef {{ status: string; mutatorName: string; replacement?: string; location: { start: { line: number } } }} Mutant */
const rows = [];
const survivors = [];
const total = { mutants: 0, killed: 0, survived: 0, timeout: 0, noCoverage: 0, ignored: 0 };
for (const name of targets) {
  const path = `reports/mutation/${name}/mutation.json`;
  if (!existsSync(path)) {
    rows.push(`| ${name} | not run | | | | | | |`);
    continue;
  }
  const report = JSON.parse(readFileSync(path, 'utf8'));
  for (const [file, { mutants }] of Object.entries(report.files)) {
    const count = (/** @type {string} */ status) =>
      /** @type {Mutant[]} */ (mutants).filter((m) => m.status === status).length;
    const c = {
      mutants: mutants.length,
      killed: count('Killed'),
      survived: count('Survived'),
      timeout: count('Timeout'),
      noCoverage: count('NoCoverage'),
      ignored: count('Ignored'),
    };
    for (const key of Object.keys(total)) total[key] += c[key];
    const detected = c.killed + c.timeout;
    const valid = detected + c.survived + c.noCoverage;
    const score = valid === 0 ? 'n/a' : `${((100 * detected) / valid).toFixed(1)} %`;
    rows.push(
      `| ${file} | ${c.mutants} | ${c.killed} | ${c.survived} | ${c.timeout} | ${c.noCoverage} | ${c.ignored} | ${score} |`,
    );
    for (const m of /** @type {Mutant[]} */ (mutants)) {
      if (m.status === 'Survived' || m.status === 'NoCoverage')
        survivors.push(
          `${file}:${m.location.start.line} ${m.status} ${m.mutatorName}: ${JSON.stringify(m.replacement ?? '')}`,
        );
    }
  }
}
const detected = total.killed + total.timeout;
const valid = detected + total.survived + total.noCoverage;
const table = [
  '| file | mutants | killed | survived | timeout | no coverage | ignored (static) | score |',
  '| --- | --- | --- | --- | --- | --- | --- | --- |',
  ...rows,
  `| **all** | ${total.mutants} | ${total.killed} | ${total.survived} | ${total.timeout} | ${total.noCoverage} | ${total.ignored} | ${valid === 0 ? 'n/a' : `${((100 * detected) / valid).toFixed(1)} %`} |`,
].join('\n');
const text = `${table}\n\nSurvivors and mutants without coverage:\n${survivors.map((s) => `- ${s}`).join('\n') || '(none)'}\n`;
mkdirSync('reports/mutation', { recursive: true });
writeFileSync('reports/mutation/summary.md', text);
console.log(`\n${text}\n(written to reports/mutation/summary.md)`);
