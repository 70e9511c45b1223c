/**
 * The server's CPU and memory during a run, read from /proc (Linux) for its pid AND every
 * descendant: the embedded server runs cells in supervised child runner processes, so the
 * gateway process alone would hide most of the work.
 *   - CPU: each process's utime+stime, sampled every `intervalMs`: a process counts what it
 *     used between the start of the window (or its birth) and its last sample, so one that exits
 *     mid-window keeps what it used up to its last sample and nothing is ever subtracted. A
 *     reaped child's time in its parent's cutime is left out, or it would count twice. Reported
 *     as % of one core.
 *   - RSS: the tree's summed VmRSS, sampled at the same times; the peak sample is reported.
 * A cluster deployment is several process trees (gateway, controllers, runner pods, services):
 * the probe then takes a function naming the roots, asked again at every sample because runner
 * pods come and go.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

export interface ServerUsage {
  /** Average CPU over the window, % of one core (200 = two cores busy). */
  cpuPercent: number;
  peakRssMb: number;
}

let clockTicks: number | undefined;
function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100; // The Linux default.
    }
  }
  return clockTicks;
}

interface Stat {
  ppid: number;
  ticks: number;
}

function readStat(pid: number): Stat | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may hold spaces and parentheses: the fields start after the last ')'.
    const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
    // f[0] is field 3 (state): ppid is field 4, utime/stime are fields 14–15.
    const ticks = Number(f[11]) + Number(f[12]);
    return { ppid: Number(f[1]), ticks };
  } catch {
    return undefined; // Exited between listing and reading.
  }
}

function rssKb(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** The `roots` and their living descendants, with their stats. */
function tree(roots: readonly number[]): Map<number, Stat> {
  const all = new Map<number, Stat>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = readStat(Number(name));
    if (stat) all.set(Number(name), stat);
  }
  const mine = new Map<number, Stat>();
  for (const root of roots) {
    const rootStat = all.get(root);
    if (rootStat) mine.set(root, rootStat);
  }
  // Parents are not always listed before their children: repeat until nothing is added.
  for (let grew = true; grew;) {
    grew = false;
    for (const [pid, stat] of all) {
      if (!mine.has(pid) && mine.has(stat.ppid)) {
        mine.set(pid, stat);
        grew = true;
      }
    }
  }
  return mine;
}

/** The direct children of `pid` (e.g. the processes a benchmark started itself). */
export function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (/^\d+$/.test(name) && readStat(Number(name))?.ppid === pid) out.push(Number(name));
  }
  return out;
}

export class ServerProbe {
  readonly #roots: () => readonly number[];
  readonly #intervalMs: number;
  #timer: NodeJS.Timeout | undefined;
  /** Ticks of each process at the start of the window (absent: born during it). */
  #startTicks = new Map<number, number>();
  /** Ticks of each process at its latest sample. */
  #lastTicks = new Map<number, number>();
  #startAt = 0;
  #peakKb = 0;

  /** `roots`: one process tree's pid, or a function naming the roots of several. */
  constructor(roots: number | (() => readonly number[]), intervalMs = 500) {
    this.#roots = typeof roots === 'number' ? () => [roots] : roots;
    this.#intervalMs = intervalMs;
  }

  #sample(): void {
    let kb = 0;
    for (const [pid, stat] of tree(this.#roots())) {
      // A pid reused by a newer process would read lower: keep the higher figure.
      this.#lastTicks.set(pid, Math.max(stat.ticks, this.#lastTicks.get(pid) ?? 0));
      kb += rssKb(pid);
    }
    this.#peakKb = Math.max(this.#peakKb, kb);
  }

  /** Starts a window. */
  begin(): void {
    this.#lastTicks = new Map();
    this.#startAt = performance.now();
    this.#peakKb = 0;
    this.#sample();
    this.#startTicks = new Map(this.#lastTicks);
    this.#timer = setInterval(() => this.#sample(), this.#intervalMs);
    this.#timer.unref();
  }

  /** Ends the window and reports it. */
  end(): ServerUsage {
    clearInterval(this.#timer);
    this.#sample();
    const seconds = (performance.now() - this.#startAt) / 1000;
    let ticks = 0;
    for (const [pid, last] of this.#lastTicks) ticks += Math.max(0, last - (this.#startTicks.get(pid) ?? 0));
    const cpuSeconds = ticks / ticksPerSecond();
    return { cpuPercent: seconds > 0 ? (cpuSeconds / seconds) * 100 : 0, peakRssMb: this.#peakKb / 1024 };
  }
}
