/**
 * The load benchmark's results as JSON (bench/results/load.json by default), so BENCHMARKS.md
 * and the chart can be rendered again without measuring again. A later invocation with
 * --merge replaces the rows it measured again (same topology and rate) and keeps the others,
 * so e.g. the cluster runs can be added to a file the single-node runs wrote.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { RunReport } from './report.ts';

export interface Invocation {
  /** ISO date of the invocation. */
  date: string;
  /** e.g. `2 cores (AMD EPYC), Node v24.21.0`. */
  machine: string;
  /** The command line, as a user would type it. */
  command: string;
}

export interface LoadResults {
  /** The invocations whose rows the file holds, oldest first. */
  invocations: Invocation[];
  reports: RunReport[];
}

const keyOf = (r: RunReport) => `${r.topology}@${r.rate}`;

/** `base` with every row of `next` added, replacing base's rows of the same topology and rate. */
export function mergeResults(base: LoadResults, next: LoadResults): LoadResults {
  const replaced = new Set(next.reports.map(keyOf));
  const reports = [...base.reports.filter((r) => !replaced.has(keyOf(r))), ...next.reports];
  const kept = base.invocations.filter(
    (i) => !next.invocations.some((n) => n.command === i.command && n.machine === i.machine),
  );
  return { invocations: [...kept, ...next.invocations], reports };
}

export function readResults(file: string): LoadResults {
  // JSON has no NaN: a figure with nothing to measure (no successful cell) was written as null.
  return JSON.parse(readFileSync(file, 'utf8'), (_key, value: unknown) =>
    value === null ? Number.NaN : value,
  ) as LoadResults;
}

/** The file's results, or none when it does not exist yet. */
export function readResultsIfAny(file: string): LoadResults {
  return existsSync(file) ? readResults(file) : { invocations: [], reports: [] };
}

export function writeResults(file: string, results: LoadResults): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
}
