/**
 * Which warm pods to replace after a pool's spec changed what it builds (their
 * {@link TEMPLATE_HASH_LABEL} differs from the pool's current hash). Pods whose runner is not
 * ready serve nothing and all go at once; a ready one goes only when the execution side says it
 * is idle, one per reconcile, and only while every wanted runner is ready — so at most one runner
 * is down for the rollout at a time. Busy runners finish their work first; without an idleness
 * source no ready pod is replaced (retirement renews them in time).
 */
import type { V1Pod } from '@kubernetes/client-node';
import { TEMPLATE_HASH_LABEL } from './runner-pod.ts';

/** What the choice looks at besides the pods. */
export interface RolloutContext {
  /** The hash of the pods the pool builds now. */
  hash: string;
  /** The pool's replicas. */
  desired: number;
  /** Runners that announced themselves. */
  readyRunners: number;
  /** True when the pool is short of pods or still waits for some (replace no ready ones then). */
  settling: boolean;
  /** True when the pod's runner runs nothing and has nothing assigned; absent: none is known idle. */
  idle?: (podName: string) => boolean;
}

const isReady = (p: V1Pod) =>
  p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;

/** Whether `pod` was built from another template than the pool's current one. */
export function isOutdated(pod: V1Pod, hash: string): boolean {
  return pod.metadata?.labels?.[TEMPLATE_HASH_LABEL] !== hash;
}

/** The outdated pods of `live` to delete now (they are recreated from the current template). */
export function pickOutdated(live: readonly V1Pod[], ctx: RolloutContext): V1Pod[] {
  const outdated = live.filter((p) => isOutdated(p, ctx.hash));
  const notReady = outdated.filter((p) => !isReady(p));
  const { idle } = ctx;
  if (ctx.settling || ctx.readyRunners < ctx.desired || !idle) return notReady;
  const spare = outdated.find((p) => isReady(p) && idle(p.metadata!.name!));
  return spare ? [...notReady, spare] : notReady;
}
