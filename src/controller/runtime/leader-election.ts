/**
 * Leader election on a coordination.k8s.io/v1 Lease, with client-go's protocol: candidates read
 * the Lease and take it over only once its holder has not renewed it for `leaseDuration` (timed
 * on the candidate's own clock from when it last saw the record change, so clock skew between
 * hosts does not matter); every write carries the resourceVersion it read, so of two racing
 * candidates one gets a 409 and loses. The leader renews every `retryPeriod`.
 *
 * One leader at a time: a leader that has not renewed within `renewDeadline` of the start of its
 * last successful renewal aborts its signal, whatever its requests are doing, and
 * `renewDeadline < leaseDuration` means that happens before any candidate may take over.
 * Stepping down clears `holderIdentity`, so a candidate takes over at its next retry instead of
 * waiting out the lease.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { V1MicroTime, type CoordinationV1Api, type V1Lease, type V1LeaseSpec } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { isConflict, isNotFound } from './reconciler.ts';
import { sleep, withSignal } from './signals.ts';

/** An identity for this process: the pod name when known, else hostname plus a random suffix. */
export function defaultIdentity(podName?: string): string {
  return podName || `${hostname()}_${randomBytes(4).toString('hex')}`;
}

/** Why a term ended: the run's signal aborted, renewal failed, or the leading work returned. */
export type LeadershipEnd = 'cancelled' | 'lost' | 'finished';

/** Options of a {@link LeaderElector}; durations default to client-go's 15 s / 10 s / 2 s. */
export interface LeaderElectorOptions {
  client: CoordinationV1Api;
  namespace: string;
  /** The Lease's name, one per elected role (e.g. `mcpv8-controller`). */
  name: string;
  /** Unique among candidates (see {@link defaultIdentity}). */
  identity: string;
  /** How long candidates wait after the last observed change before taking over. */
  leaseDurationMs?: number;
  /** How long the leader keeps leading without a successful renewal; < leaseDurationMs. */
  renewDeadlineMs?: number;
  /** Pause between acquire or renew attempts; renewDeadlineMs > 1.2 × this. */
  retryPeriodMs?: number;
  /** Clear the Lease when stepping down (default true); false lets it expire, as after a crash. */
  releaseOnCancel?: boolean;
  log?: Pick<Logger, 'info' | 'warn'>;
}

/** What the elector calls; `onStartedLeading` is the leader's work. */
export interface LeaderCallbacks {
  /**
   * Runs while leading. `signal` aborts when leadership ends (cancelled or lost); the work must
   * stop acting at once and return. Returning early ends the term ('finished').
   */
  onStartedLeading: (signal: AbortSignal) => Promise<void> | void;
  /** Called once the work has returned and the Lease was released (when it is released). */
  onStoppedLeading?: (end: LeadershipEnd) => void;
  /** Called when the observed holder changes (including to this identity). */
  onNewLeader?: (identity: string) => void;
}

/** Campaigns for one Lease and runs one term of leadership per {@link run}. */
export class LeaderElector {
  readonly identity: string;
  readonly #client: CoordinationV1Api;
  readonly #namespace: string;
  readonly #name: string;
  readonly #leaseMs: number;
  readonly #renewMs: number;
  readonly #retryMs: number;
  readonly #releaseOnCancel: boolean;
  readonly #log: LeaderElectorOptions['log'];
  /** Last seen record and when (monotonic ms) this process first saw it. */
  #observedRv: string | undefined;
  #observedAt = 0;
  #observedHolder: string | undefined;
  /** While leading: the monotonic time leadership ends unless renewed first. */
  #validUntil = 0;
  #leading = false;
  #running = false;
  #onNewLeader: ((identity: string) => void) | undefined;

  constructor(opts: LeaderElectorOptions) {
    this.identity = opts.identity;
    this.#client = opts.client;
    this.#namespace = opts.namespace;
    this.#name = opts.name;
    this.#leaseMs = opts.leaseDurationMs ?? 15_000;
    this.#renewMs = opts.renewDeadlineMs ?? 10_000;
    this.#retryMs = opts.retryPeriodMs ?? 2_000;
    this.#releaseOnCancel = opts.releaseOnCancel ?? true;
    this.#log = opts.log;
    if (!this.identity) throw new RangeError('leader election needs an identity');
    if (!(this.#leaseMs > this.#renewMs && this.#renewMs > 1.2 * this.#retryMs && this.#retryMs > 0)) {
      throw new RangeError(
        `leader election needs leaseDuration > renewDeadline > 1.2 × retryPeriod > 0, got ` +
          `${this.#leaseMs}, ${this.#renewMs} and ${this.#retryMs} ms`,
      );
    }
  }

  /** True while this process leads (from acquiring until its work's signal aborts). */
  isLeader(): boolean {
    return this.#leading;
  }

  /** The holder this elector last observed, if any. */
  leader(): string | undefined {
    return this.#observedHolder;
  }

  /**
   * Campaigns until the Lease is won or `signal` aborts, then leads until `signal` aborts, renewal
   * fails or the work returns. Resolves with how the term ended ('cancelled' also when it never
   * led); rethrows the work's error. One term per call; one call at a time.
   */
  async run(signal: AbortSignal, callbacks: LeaderCallbacks): Promise<LeadershipEnd> {
    if (this.#running) throw new Error(`leader elector ${this.identity} is already running`);
    this.#running = true;
    this.#onNewLeader = callbacks.onNewLeader;
    try {
      if (!(await this.#campaign(signal))) return 'cancelled';
      return await this.#lead(signal, callbacks);
    } finally {
      this.#leading = false;
      this.#running = false;
    }
  }

  async #campaign(signal: AbortSignal): Promise<boolean> {
    while (!signal.aborted) {
      // Not aborted by `signal`: a write cut off mid-flight could win the Lease unseen.
      if (await this.#tryAcquireOrRenew(AbortSignal.timeout(Math.ceil(this.#renewMs)))) {
        if (!signal.aborted) return true;
        if (this.#releaseOnCancel) await this.#release();
        return false;
      }
      await sleep(this.#retryMs * (1 + 0.2 * Math.random()), signal);
    }
    return false;
  }

  async #lead(signal: AbortSignal, callbacks: LeaderCallbacks): Promise<LeadershipEnd> {
    const lead = new AbortController();
    let end: LeadershipEnd = 'finished';
    let expired = false;
    const stop = (why: LeadershipEnd) => {
      if (lead.signal.aborted) return;
      end = why;
      this.#leading = false;
      lead.abort(new Error(`leadership ${why}`));
    };
    // The deadline is a timer of its own so that a hung renew request cannot extend leadership.
    let expiry: NodeJS.Timeout | undefined;
    const armExpiry = () => {
      clearTimeout(expiry);
      expiry = setTimeout(
        () => {
          expired = true;
          stop('lost');
        },
        Math.max(0, this.#validUntil - performance.now()),
      );
    };
    const onCancel = () => stop('cancelled');
    this.#leading = true;
    armExpiry();
    signal.addEventListener('abort', onCancel, { once: true });
    if (signal.aborted) onCancel();
    // Renewal goes on while the work winds down, so the Lease stays ours until it has returned.
    const renewal = new AbortController();
    const renewing = this.#renewLoop(renewal.signal, armExpiry, () => {
      expired = true;
      stop('lost');
    });
    this.#log?.info({ lease: this.#name, identity: this.identity }, 'started leading');
    let failure: { err: unknown } | undefined;
    try {
      await callbacks.onStartedLeading(lead.signal);
    } catch (err) {
      failure = { err };
    }
    stop('finished');
    signal.removeEventListener('abort', onCancel);
    renewal.abort();
    await renewing;
    clearTimeout(expiry);
    if (!expired && this.#releaseOnCancel) await this.#release();
    this.#log?.info({ lease: this.#name, identity: this.identity, end }, 'stopped leading');
    callbacks.onStoppedLeading?.(end);
    if (failure) throw failure.err;
    return end;
  }

  async #renewLoop(stop: AbortSignal, onRenewed: () => void, onLost: () => void): Promise<void> {
    for (;;) {
      await sleep(this.#retryMs, stop);
      if (stop.aborted) return;
      const remaining = this.#validUntil - performance.now();
      if (remaining <= 0) return onLost();
      const renewed = await this.#tryAcquireOrRenew(
        AbortSignal.any([stop, AbortSignal.timeout(Math.ceil(remaining))]),
      );
      if (stop.aborted) return;
      if (renewed) onRenewed();
      else if (this.#observedHolder !== this.identity) {
        this.#log?.warn({ lease: this.#name, holder: this.#observedHolder }, 'lease taken by another holder');
        return onLost();
      }
    }
  }

  /** One acquire-or-renew round (read, then create or replace). True when this identity holds it. */
  async #tryAcquireOrRenew(signal: AbortSignal): Promise<boolean> {
    const startedAt = performance.now();
    const ref = { name: this.#name, namespace: this.#namespace };
    let lease: V1Lease;
    try {
      lease = await this.#client.readNamespacedLease(ref, withSignal(signal));
    } catch (err) {
      if (!isNotFound(err)) return this.#failed('read', err, signal);
      const body = this.#leaseBody({ name: this.#name, namespace: this.#namespace }, undefined);
      try {
        this.#observe(await this.#client.createNamespacedLease({ ...ref, body }, withSignal(signal)));
      } catch (err) {
        // 409 AlreadyExists: another candidate created it first; it holds the Lease.
        return isConflict(err) ? false : this.#failed('create', err, signal);
      }
      this.#validUntil = startedAt + this.#renewMs;
      return true;
    }
    this.#observe(lease);
    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity;
    const durationMs = Math.max(this.#leaseMs, (spec.leaseDurationSeconds ?? 0) * 1000);
    if (holder && holder !== this.identity && performance.now() < this.#observedAt + durationMs) return false;
    try {
      const body = this.#leaseBody(lease.metadata ?? ref, spec);
      this.#observe(await this.#client.replaceNamespacedLease({ ...ref, body }, withSignal(signal)));
    } catch (err) {
      // 409: someone wrote the Lease since we read it; the next round sees the new record.
      return isConflict(err) ? false : this.#failed('update', err, signal);
    }
    // Measured from before the read: the renewal cannot have taken effect any earlier.
    this.#validUntil = startedAt + this.#renewMs;
    return true;
  }

  /** The Lease as held by this identity, keeping the acquire time and count when renewing. */
  #leaseBody(metadata: V1Lease['metadata'] & object, previous: V1LeaseSpec | undefined): V1Lease {
    const now = new V1MicroTime(Date.now());
    const renewing = previous?.holderIdentity === this.identity;
    return {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata,
      spec: {
        holderIdentity: this.identity,
        leaseDurationSeconds: Math.ceil(this.#leaseMs / 1000),
        acquireTime: renewing && previous?.acquireTime ? previous.acquireTime : now,
        renewTime: now,
        leaseTransitions: (previous?.leaseTransitions ?? 0) + (previous && !renewing ? 1 : 0),
      },
    };
  }

  /** Hands the Lease back: no holder, so candidates take it at their next retry. */
  async #release(): Promise<void> {
    const ref = { name: this.#name, namespace: this.#namespace };
    const options = withSignal(AbortSignal.timeout(Math.ceil(this.#renewMs)));
    try {
      const lease = await this.#client.readNamespacedLease(ref, options);
      if (lease.spec?.holderIdentity !== this.identity) return;
      const now = new V1MicroTime(Date.now());
      const body: V1Lease = {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: lease.metadata,
        spec: {
          leaseDurationSeconds: 1,
          leaseTransitions: lease.spec.leaseTransitions,
          acquireTime: now,
          renewTime: now,
        },
      };
      this.#observe(await this.#client.replaceNamespacedLease({ ...ref, body }, options));
    } catch (err) {
      this.#log?.warn({ lease: this.#name, err }, 'could not release the lease; it will expire instead');
    }
  }

  #observe(lease: V1Lease): void {
    const rv = lease.metadata?.resourceVersion;
    if (rv !== undefined && rv === this.#observedRv) return;
    this.#observedRv = rv;
    this.#observedAt = performance.now();
    const holder = lease.spec?.holderIdentity || undefined;
    if (holder !== this.#observedHolder) {
      this.#observedHolder = holder;
      if (holder) this.#onNewLeader?.(holder);
    }
  }

  #failed(what: string, err: unknown, signal: AbortSignal): false {
    // An aborted request is the deadline or a stop doing its job, not news.
    if (!signal.aborted) this.#log?.warn({ lease: this.#name, err }, `lease ${what} failed`);
    return false;
  }
}
