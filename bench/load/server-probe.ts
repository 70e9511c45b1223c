/**
 * The server's CPU and memory during a run, read from /proc (Linux) for its pid AND every
 * descendant: the embedded server runs cells in supervised child runner processes, so the
 * gateway process alone would hide most of the work.
 *   - CPU: utime+stime (+ cutime+cstime, which hold the children already exited and reaped)
 *     summed over the tree at the start and end of the window; reported as % of one core.
 *   - RSS: the tree's summed VmRSS, sampled every `intervalMs`; the peak sample is reported.
 * A cluster deployment is several process trees (gateway, controllers, runner pods, services):
 * the probe then takes a function naming the roots, asked again at every sample because runner
 * pods come and go. A root that exited during the window takes its CPU with it (nobody in the
 * measured set reaps it), so churning pods are under-counted; pooled pods barely churn.
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
    // f[0] is field 3 (state): ppid is field 4, utime/stime/cutime/cstime are fields 14–17.
    const ticks = Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
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
  #startTicks = 0;
  #startAt = 0;
  #peakKb = 0;

  /** `roots`: one process tree's pid, or a function naming the roots of several. */
  constructor(roots: number | (() => readonly number[]), intervalMs = 500) {
    this.#roots = typeof roots === 'number' ? () => [roots] : roots;
    this.#intervalMs = intervalMs;
  }

  #ticks(): number {
    let sum = 0;
    for (const stat of tree(this.#roots()).values()) sum += stat.ticks;
    return sum;
  }

  #sampleRss(): void {
    let kb = 0;
    for (const pid of tree(this.#roots()).keys()) kb += rssKb(pid);
    this.#peakKb = Math.max(this.#peakKb, kb);
  }

  /** Starts a window. */
  begin(): void {
    this.#startTicks = this.#ticks();
    this.#startAt = performance.now();
    this.#peakKb = 0;
    this.#sampleRss();
    this.#timer = setInterval(() => this.#sampleRss(), this.#intervalMs);
    this.#timer.unref();
  }

  /** Ends the window and reports it. */
  end(): ServerUsage {
    clearInterval(this.#timer);
    this.#sampleRss();
    const seconds = (performance.now() - this.#startAt) / 1000;
    const cpuSeconds = (this.#ticks() - this.#startTicks) / ticksPerSecond();
    return { cpuPercent: seconds > 0 ? (cpuSeconds / seconds) * 100 : 0, peakRssMb: this.#peakKb / 1024 };
  }
}
