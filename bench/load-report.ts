/**
 * `npm run bench:report`: renders BENCHMARKS.md and the p95 chart (SVG) from the load
 * benchmark's saved results, without measuring anything. The hand-written analysis section of
 * an existing BENCHMARKS.md is kept.
 *
 *   npm run bench:report -- [--results bench/results/load.json] [--doc BENCHMARKS.md] [--chart bench/results/load-p95.svg]
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { format, resolveConfig } from 'prettier';
import { renderBenchmarksDoc } from './load/benchmarks-doc.ts';
import { renderChart } from './load/chart.ts';
import { readResults } from './load/results-file.ts';
import { parseSeedTable, SEED_EXCERPT, SEED_HARDWARE } from './load/seed-table.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const { values } = parseArgs({
  options: {
    results: { type: 'string', default: resolve(ROOT, 'bench/results/load.json') },
    doc: { type: 'string', default: resolve(ROOT, 'BENCHMARKS.md') },
    chart: { type: 'string', default: resolve(ROOT, 'bench/results/load-p95.svg') },
  },
});
const [resultsFile, docFile, chartFile] = [values.results, values.doc, values.chart].map((p) => resolve(p));

if (!existsSync(resultsFile!)) {
  process.stderr.write(
    `load-report: ${resultsFile} not found; run npm run bench:load -- … --out-dir first\n`,
  );
  process.exit(2);
}
const results = readResults(resultsFile!);
const seed = parseSeedTable(SEED_EXCERPT);
const machines = [...new Set(results.invocations.map((i) => i.machine))];

mkdirSync(dirname(chartFile!), { recursive: true });
writeFileSync(
  chartFile!,
  renderChart({
    reports: results.reports,
    seed: seed.rows,
    notes: [`Ours: ${machines.join('; ') || 'no runs'}.`, `Theirs: "${SEED_HARDWARE}" (the seed's README).`],
  }),
);

const markdown = renderBenchmarksDoc({
  results,
  seed,
  chartHref: relative(dirname(docFile!), chartFile!).split('\\').join('/'),
  existing: existsSync(docFile!) ? readFileSync(docFile!, 'utf8') : undefined,
});
// Formatted as `npm run lint` checks it, so a re-render leaves nothing for prettier to change.
const formatted = await format(markdown, { ...(await resolveConfig(docFile!)), parser: 'markdown' });
writeFileSync(docFile!, formatted);
console.log(`wrote ${relative(process.cwd(), docFile!)} and ${relative(process.cwd(), chartFile!)}`);
