/**
 * The open-loop, constant-arrival-rate scheduler (k6's `constant-arrival-rate` model).
 *
 * Arrival i is due at t0 + i/rate and is launched then, whether or not earlier requests have
 * finished: a slow server cannot slow the schedule down, so it cannot hide its own slowness
 * (no coordinated omission). Latency is measured from the arrival's SCHEDULED time, not from
 * when it was actually sent, so any delay before sending — the generator's own event loop
 * falling behind included — is counted against the result rather than silently forgiven.
 *
 * An arrival is dropped, never delayed, when it cannot be sent on time: when `maxInFlight`
 * requests are already outstanding, or when the launcher has no free virtual user (a stateful
 * session) for it. Requests still unfinished `graceMs` after the last arrival are aborted and
 * also counted as dropped. Dropped arrivals carry no latency (there is none to measure), which
 * is why they are always reported next to the percentiles.
 */
/** What became of one launched request. */
export interface Attempt {
  ok: boolean;
  /** A short, groupable reason when not ok (e.g. `http 429`, `failed`). */
  error?: string;
}

/**
 * Starts arrival `index`. Returns undefined when it cannot be started now (no free virtual
 * user): the arrival is dropped. `signal` (the request's own) aborts when the run's grace
 * period ends with the request unfinished.
 */
export type Launch = (index: number, signal: AbortSignal) => Promise<Attempt> | undefined;

export interface ArrivalOptions {
  /** Arrivals per second. */
  rate: number;
  /** Length of the arrival schedule, ms. */
  durationMs: number;
  /** Most requests outstanding at once; an arrival beyond it is dropped. */
  maxInFlight: number;
  /** How long after the last arrival outstanding requests may still finish, ms. */
  graceMs: number;
}

export interface ArrivalResult {
  rate: number;
  durationMs: number;
  /** Arrivals in the schedule (rate × duration). */
  scheduled: number;
  sent: number;
  /** Requests that finished (ok or not) before the grace period ended. */
  completed: number;
  ok: number;
  failed: number;
  droppedAtLimit: number;
  droppedNoVu: number;
  droppedUnfinished: number;
  /** Scheduled time → completion, ms, of the ok requests. */
  latenciesMs: number[];
  /** Scheduled time → actual send, ms: how far the generator itself fell behind. */
  sendLagMs: number[];
  /** Most requests outstanding at once (k6's "max VUs" for stateless scenarios). */
  peakInFlight: number;
  /** Last send and last completion, ms after t0. */
  lastSentMs: number;
  lastDoneMs: number;
  errors: Record<string, number>;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export async function runOpenLoop(opts: ArrivalOptions, launch: Launch): Promise<ArrivalResult> {
  const interval = 1000 / opts.rate;
  const total = Math.max(0, Math.round((opts.rate * opts.durationMs) / 1000));
  // One controller per outstanding request, not one shared signal: fetch and the MCP SDK add
  // listeners to the signal they get, and adding to a signal with thousands of listeners costs
  // O(n) each (a duplicate check), which made the generator itself the bottleneck.
  const outstanding = new Set<AbortController>();
  const r: ArrivalResult = {
    rate: opts.rate,
    durationMs: opts.durationMs,
    scheduled: total,
    sent: 0,
    completed: 0,
    ok: 0,
    failed: 0,
    droppedAtLimit: 0,
    droppedNoVu: 0,
    droppedUnfinished: 0,
    latenciesMs: [],
    sendLagMs: [],
    peakInFlight: 0,
    lastSentMs: 0,
    lastDoneMs: 0,
    errors: {},
  };
  let inFlight = 0;
  let closed = false;
  let drained: (() => void) | undefined;

  const settle = (scheduledAt: number, controller: AbortController, attempt: Attempt) => {
    outstanding.delete(controller);
    if (closed) return; // Already counted as dropped when the grace period ended.
    const now = performance.now();
    inFlight--;
    r.completed++;
    r.lastDoneMs = Math.max(r.lastDoneMs, now - t0);
    if (attempt.ok) {
      r.ok++;
      r.latenciesMs.push(now - scheduledAt);
    } else {
      r.failed++;
      const key = attempt.error ?? 'error';
      r.errors[key] = (r.errors[key] ?? 0) + 1;
    }
    if (inFlight === 0) drained?.();
  };

  const fire = (index: number, scheduledAt: number) => {
    if (inFlight >= opts.maxInFlight) {
      r.droppedAtLimit++;
      return;
    }
    const sentAt = performance.now();
    const controller = new AbortController();
    let pending: Promise<Attempt> | undefined;
    try {
      pending = launch(index, controller.signal);
    } catch (err) {
      pending = Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    if (pending === undefined) {
      r.droppedNoVu++;
      return;
    }
    outstanding.add(controller);
    r.sent++;
    r.sendLagMs.push(sentAt - scheduledAt);
    r.lastSentMs = sentAt - t0;
    inFlight++;
    r.peakInFlight = Math.max(r.peakInFlight, inFlight);
    pending.then(
      (attempt) => settle(scheduledAt, controller, attempt),
      (err: unknown) =>
        settle(scheduledAt, controller, { ok: false, error: err instanceof Error ? err.name : 'rejected' }),
    );
  };

  const t0 = performance.now();
  let next = 0;
  while (next < total) {
    // Everything due by now goes out in this turn, each keeping its own scheduled time: after
    // a stall the backlog is sent at once (and its lateness shows in the latencies).
    const now = performance.now();
    while (next < total && t0 + next * interval <= now) {
      fire(next, t0 + next * interval);
      next++;
    }
    if (next < total) await sleep(Math.max(0, t0 + next * interval - performance.now()));
  }

  if (inFlight > 0) {
    const allDone = new Promise<void>((resolve) => (drained = resolve));
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((resolve) => (timer = setTimeout(resolve, opts.graceMs)));
    await Promise.race([allDone, grace]);
    clearTimeout(timer);
  }
  closed = true;
  r.droppedUnfinished = inFlight;
  for (const controller of outstanding) controller.abort(new Error('grace period over'));
  return r;
}

/** Every kind of drop together (the table's "Dropped" column). */
export const droppedOf = (r: ArrivalResult): number => r.droppedAtLimit + r.droppedNoVu + r.droppedUnfinished;
