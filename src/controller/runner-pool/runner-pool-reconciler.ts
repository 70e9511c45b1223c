/**
 * Keeps each RunnerPool at `spec.replicas` warm runner pods (key `<namespace>/<pool name>`):
 * deletes pods that exited or are used up (a runner the kernel killed at its memory limit with a
 * `PodOOMKilled` warning), creates the missing ones without over-creating while the cache lags
 * ({@link Expectations}), deletes the surplus on scale-down (not-ready pods first), tells the
 * runner side which pods belong to the pool, and writes the pool's status. A pool whose template
 * resources a runner cannot live with (runner-pod-resources.ts) gets no new pods: its Ready
 * condition is False with the problem's reason, and a warning says why. A pool whose pods keep
 * ending before their runners announce themselves waits before creating more ({@link StartBackoff}):
 * Ready is False with reason `PodsFailingToStart`, and a `PodsFailingToStart` warning says until when.
 */
import type { V1Pod } from '@kubernetes/client-node';
import type { RunnerPool } from '../../api/v1alpha1/index.ts';
import type { RunnerRetirement } from '../../core/index.ts';
import type { EventRecorder, EventType } from '../events/event-recorder.ts';
import { objectKey, parseKey } from '../runtime/keys.ts';
import { TerminalError, type ReconcileResult, type Reconciler } from '../runtime/reconciler.ts';
import { Expectations } from './expectations.ts';
import {
  MAX_POOL_NAME_LENGTH,
  RUNNER_POOL_LABEL,
  buildRunnerPod,
  templateHashOf,
  type RunnerPodSettings,
} from './runner-pod.ts';
import { pickOutdated } from './template-rollout.ts';
import {
  OOM_KILLED,
  describeRunnerPodEnd,
  runnerPodEnd,
  runnerPodEndKind,
  type RunnerPodEnd,
} from './runner-pod-end.ts';
import { DEFAULT_TMP_SIZE, resourceProblems } from './runner-pod-resources.ts';
import { kubeRunnerPoolApi, type RunnerPoolApi } from './runner-pool-api.ts';
import { computeStatus, statusChanged, type ObservedPool } from './runner-pool-status.ts';
import { StartBackoff } from './start-backoff.ts';
import {
  RunnerPoolEventReason,
  type PodCache,
  type PoolCache,
  type RunnerPodMetrics,
  type RunnerPoolHooks,
  type RunnerPoolReconcilerOptions,
} from './runner-pool-reconciler-options.ts';

export * from './runner-pool-reconciler-options.ts';

/** The pool key (`<namespace>/<pool name>`) of a runner pod, for enqueueing from the pod informer. */
export function poolKeyOfPod(pod: V1Pod): string | undefined {
  const pool = pod.metadata?.labels?.[RUNNER_POOL_LABEL];
  const namespace = pod.metadata?.namespace;
  return pool && namespace ? `${namespace}/${pool}` : undefined;
}

/** A pod to delete, why, and how it ended if it did. */
interface Cleanup {
  pod: V1Pod;
  reason: RunnerPoolEventReason;
  note: string;
  type?: EventType;
  end?: RunnerPodEnd;
}

const isFinished = (pod: V1Pod) => pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed';

/** Reconciles RunnerPools; see the module comment. */
export class RunnerPoolReconciler implements Reconciler {
  readonly #pods: PodCache;
  readonly #pools: PoolCache;
  readonly #settings: RunnerPodSettings;
  readonly #hooks: RunnerPoolHooks;
  readonly #events: EventRecorder | undefined;
  readonly #expectations: Expectations;
  readonly #api: RunnerPoolApi;
  readonly #maxCreates: number;
  readonly #pollMs: number;
  readonly #log: RunnerPoolReconcilerOptions['log'];
  readonly #metrics: RunnerPodMetrics | undefined;
  readonly #backoff: StartBackoff;
  readonly #now: () => number;

  constructor(opts: RunnerPoolReconcilerOptions) {
    this.#pods = opts.pods;
    this.#pools = opts.pools;
    this.#settings = opts.settings;
    this.#hooks = opts.hooks;
    this.#events = opts.events;
    this.#expectations = opts.expectations ?? new Expectations();
    this.#api = opts.api ?? kubeRunnerPoolApi(opts.kubeConfig);
    this.#maxCreates = opts.maxCreatesPerReconcile ?? 20;
    this.#pollMs = opts.notReadyPollMs ?? 5000;
    this.#log = opts.log;
    this.#metrics = opts.metrics;
    this.#backoff = opts.startBackoff ?? new StartBackoff();
    this.#now = opts.now ?? Date.now;
    // Settle expectations as soon as the cache shows the change (before the next reconcile).
    this.#pods.addEventHandler({
      onAdd: (pod) => this.#observe(pod, 'add'),
      onDelete: (pod) => this.#observe(pod, 'delete'),
    });
  }

  async reconcile(key: string, signal: AbortSignal): Promise<ReconcileResult | void> {
    const pool = this.#pools.get(key);
    if (!pool || pool.metadata?.deletionTimestamp) {
      // Gone or going: the garbage collector removes its pods (they carry an ownerReference).
      this.#expectations.forget(key);
      this.#backoff.forget(key);
      this.#hooks.onMembers(key, []);
      return;
    }
    const { namespace, name } = parseKey(key);
    if (name.length > MAX_POOL_NAME_LENGTH) {
      const message = `the pool's name is longer than ${MAX_POOL_NAME_LENGTH} characters, so it cannot label its pods`;
      this.#record(pool, 'Warning', RunnerPoolEventReason.InvalidSpec, message);
      await this.#writeStatus(pool, { live: 0, readyRunners: 0, invalid: message }, signal);
      throw new TerminalError(`RunnerPool ${key}: ${message}`);
    }
    // Limits a runner cannot live with: no new pods (the pods it has keep serving) until the spec
    // changes, which enqueues the pool again.
    const problems = resourceProblems(pool, this.#settings.tmpSizeLimit ?? DEFAULT_TMP_SIZE);
    const refused =
      problems.length === 0
        ? undefined
        : { reason: problems[0]!.reason, message: problems.map((p) => p.message).join('; ') };
    if (refused)
      this.#record(pool, 'Warning', refused.reason, `no runner pods are created: ${refused.message}`);

    const owned = this.#ownedPods(pool, namespace);
    const inCache = new Set(owned.map((p) => p.metadata!.name!));
    for (const podName of this.#expectations.pendingCreates(key)) {
      if (inCache.has(podName)) this.#expectations.creationObserved(key, podName);
    }
    for (const podName of this.#expectations.pendingDeletes(key)) {
      if (!inCache.has(podName)) this.#expectations.deletionObserved(key, podName);
    }
    const deleting = this.#expectations.pendingDeletes(key);

    const live: V1Pod[] = [];
    const cleanup: Cleanup[] = [];
    for (const pod of owned) {
      const podName = pod.metadata!.name!;
      if (pod.metadata?.deletionTimestamp || deleting.has(podName)) continue;
      const end = isFinished(pod) ? runnerPodEnd(pod) : undefined;
      let retired: RunnerRetirement | undefined;
      if (end?.reason === OOM_KILLED) {
        cleanup.push({
          pod,
          end,
          type: 'Warning',
          reason: RunnerPoolEventReason.PodOOMKilled,
          note: describeRunnerPodEnd(end),
        });
      } else if (isFinished(pod)) {
        cleanup.push({
          pod,
          ...(end && { end }),
          reason: RunnerPoolEventReason.PodFinished,
          note: `pod ${podName} exited (${pod.status!.phase}${end ? `: ${end.reason}` : ''})`,
        });
      } else if ((retired = this.#hooks.retiredFor(podName))) {
        cleanup.push({
          pod,
          reason: RunnerPoolEventReason.PodRetired,
          note:
            retired === 'over-memory'
              ? `pod ${podName} stayed over its memory budget`
              : `pod ${podName} ran its executions`,
        });
      } else {
        live.push(pod);
      }
    }

    const desired = pool.spec.replicas;
    const surplus = live.length - desired;
    const victims = surplus > 0 ? pickVictims(live, surplus) : [];
    for (const pod of victims) {
      cleanup.push({
        pod,
        reason: RunnerPoolEventReason.PodDeleted,
        note: `scaled down to ${desired}: deleted pod ${pod.metadata!.name!}`,
      });
    }
    const kept = live.filter((p) => !victims.includes(p));
    // Template changes: not while the spec is refused or creations wait (no replacement would come).
    const now = this.#now();
    const outdated =
      refused || this.#backoff.remainingMs(key, now) > 0
        ? []
        : pickOutdated(kept, {
            hash: templateHashOf(pool, this.#settings),
            desired,
            readyRunners: this.#hooks.readyRunners(key),
            settling: kept.length < desired || this.#expectations.pendingCreates(key).size > 0,
            ...(this.#hooks.idle && { idle: (n: string) => this.#hooks.idle!(n) }),
          });
    for (const pod of outdated) {
      cleanup.push({
        pod,
        reason: RunnerPoolEventReason.PodOutdated,
        note: `pod ${pod.metadata!.name!} was built from an older template: replaced`,
      });
    }
    const members = kept.filter((p) => !outdated.includes(p)).map((p) => p.metadata!.name!);
    // Members first: a pod about to be deleted must not be handed new work.
    this.#hooks.onMembers(key, members);

    const errors: unknown[] = [];
    await Promise.all(
      cleanup.map((c) =>
        this.#deletePod(key, pool, c, signal).catch((err: unknown) => void errors.push(err)),
      ),
    );

    // Pods that exited on their own (an OOM kill is the work's doing, not a start problem).
    const ended = cleanup.filter((c) => c.reason === RunnerPoolEventReason.PodFinished).length;
    if (this.#backoff.observe(key, ended, this.#hooks.readyRunners(key), now)) {
      const state = this.#backoff.state(key)!;
      this.#record(
        pool,
        'Warning',
        RunnerPoolEventReason.PodsFailingToStart,
        `${state.failedPods} pods ended before their runner became ready; next pod at ${isoTime(state.notBefore)}`,
      );
    }
    const waitMs = this.#backoff.remainingMs(key, now);
    const pendingCreates = this.#expectations.pendingCreates(key).size;
    const missing =
      refused || waitMs > 0 ? 0 : Math.min(desired - members.length - pendingCreates, this.#maxCreates);
    if (missing > 0) {
      const results = await Promise.allSettled(
        Array.from({ length: missing }, () => this.#createPod(key, pool, signal)),
      );
      for (const r of results) if (r.status === 'rejected') errors.push(r.reason);
    }
    if (signal.aborted) return;
    // The first error decides the retry (a 409 recomputes at once); status waits for success.
    if (errors.length > 0) throw errors[0];

    const readyRunners = this.#hooks.readyRunners(key);
    const failing = this.#backoff.state(key);
    const status = await this.#writeStatus(
      pool,
      {
        live: members.length,
        readyRunners,
        ...(refused && { invalid: refused }),
        ...(failing && {
          failingToStart: {
            pods: failing.failedPods,
            ...(waitMs > 0 && { nextAttempt: isoTime(failing.notBefore) }),
          },
        }),
      },
      signal,
    );
    if (refused) return;
    const expiry = this.#expectations.nextExpiryMs(key);
    const notReady = (status.readyReplicas ?? 0) < desired;
    const after = [
      expiry === undefined ? undefined : expiry + 1,
      notReady ? this.#pollMs : undefined,
      waitMs > 0 ? waitMs : undefined,
    ]
      .filter((v): v is number => v !== undefined)
      .sort((a, b) => a - b)[0];
    return after === undefined ? undefined : { requeueAfterMs: after };
  }

  /** Pods of this pool: the label and, so a same-named older pool's pods are left to the GC, its uid. */
  #ownedPods(pool: RunnerPool, namespace: string): V1Pod[] {
    const name = pool.metadata!.name!;
    const uid = pool.metadata!.uid;
    return this.#pods
      .list(namespace)
      .filter(
        (p) =>
          p.metadata?.labels?.[RUNNER_POOL_LABEL] === name &&
          (p.metadata.ownerReferences ?? []).some((o) => o.controller === true && o.uid === uid),
      );
  }

  async #createPod(key: string, pool: RunnerPool, signal: AbortSignal): Promise<void> {
    const pod = buildRunnerPod(pool, this.#settings);
    const podName = pod.metadata!.name!;
    this.#expectations.expectCreate(key, podName);
    try {
      await this.#api.createPod(pod, signal);
    } catch (err) {
      this.#expectations.creationObserved(key, podName);
      if (!signal.aborted) {
        this.#record(
          pool,
          'Warning',
          RunnerPoolEventReason.PodCreateFailed,
          `cannot create pod ${podName}: ${messageOf(err)}`,
        );
      }
      throw err;
    }
    this.#log?.debug({ pool: key, pod: podName }, 'runner pod created');
    this.#record(pool, 'Normal', RunnerPoolEventReason.PodCreated, `created pod ${podName}`);
  }

  async #deletePod(key: string, pool: RunnerPool, cleanup: Cleanup, signal: AbortSignal): Promise<void> {
    const { pod, reason, note } = cleanup;
    const podName = pod.metadata!.name!;
    this.#expectations.expectDelete(key, podName);
    try {
      await this.#api.deletePod(pod.metadata!.namespace!, podName, pod.metadata?.uid, signal);
    } catch (err) {
      this.#expectations.deletionObserved(key, podName);
      if (!signal.aborted) {
        this.#record(
          pool,
          'Warning',
          RunnerPoolEventReason.PodDeleteFailed,
          `cannot delete pod ${podName}: ${messageOf(err)}`,
        );
      }
      throw err;
    }
    if (cleanup.end) this.#metrics?.podEnded(runnerPodEndKind(cleanup.end));
    this.#record(pool, cleanup.type ?? 'Normal', reason, note);
  }

  async #writeStatus(pool: RunnerPool, observed: ObservedPool, signal: AbortSignal) {
    const status = computeStatus(pool, observed, isoTime(this.#now()));
    if (!statusChanged(pool.status, status) || signal.aborted) return status;
    const { namespace, name, resourceVersion } = pool.metadata!;
    // Against the cached resourceVersion: a stale cache gets a 409 and the key is recomputed.
    await this.#api.patchStatus(namespace!, name!, resourceVersion, status, signal);
    return status;
  }

  #observe(pod: V1Pod, event: 'add' | 'delete'): void {
    const key = poolKeyOfPod(pod);
    const podName = pod.metadata?.name;
    if (!key || !podName) return;
    if (event === 'add') this.#expectations.creationObserved(key, podName);
    else this.#expectations.deletionObserved(key, podName);
  }

  #record(pool: RunnerPool, type: EventType, reason: RunnerPoolEventReason, note: string): void {
    this.#events?.record(pool, type, reason, note);
  }
}

/**
 * Which `count` pods to delete on scale-down: the least useful first — unscheduled, then
 * Pending, then running but not Ready, then Ready; within a rank the youngest (least warmed).
 */
export function pickVictims(pods: readonly V1Pod[], count: number): V1Pod[] {
  const rank = (p: V1Pod): number => {
    if (!p.spec?.nodeName) return 0;
    if (p.status?.phase !== 'Running') return 1;
    const ready = p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
    return ready ? 3 : 2;
  };
  const created = (p: V1Pod): number => new Date(p.metadata?.creationTimestamp ?? 0).getTime();
  return [...pods]
    .sort((a, b) => rank(a) - rank(b) || created(b) - created(a) || objectKey(a).localeCompare(objectKey(b)))
    .slice(0, Math.max(0, count));
}

/** RFC 3339 to the second, as conditions carry it. */
function isoTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');
}

function messageOf(err: unknown): string {
  if (err && typeof err === 'object') {
    const body = (err as { body?: unknown }).body;
    if (typeof body === 'string') {
      try {
        const parsed = JSON.parse(body) as { message?: unknown };
        if (typeof parsed.message === 'string') return parsed.message;
      } catch {
        // not JSON: fall through to the error's own message
      }
    }
  }
  return err instanceof Error ? err.message : String(err);
}
