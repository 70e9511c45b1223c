/**
 * RunnerPool (runnerpools.mcpv8.dev/v1alpha1): a set of warm runner pods Executions run on, how
 * they are built and what their isolates may use. The schema is in runner-pool-crd.ts.
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import type { ResolvedPolicies } from '../../core/policy.ts';
import type { Condition } from './condition.ts';

export const RUNNER_POOL_KIND = 'RunnerPool';
export const RUNNER_POOL_PLURAL = 'runnerpools';

/** Isolate caps of the pool's executions (MiB, seconds); each default ≤ its maximum. */
export interface RunnerPoolIsolate {
  defaultHeapMb: number;
  maxHeapMb: number;
  defaultTimeoutSeconds: number;
  maxTimeoutSeconds: number;
}

/** A toleration, as in a core/v1 PodSpec. */
export interface RunnerToleration {
  key?: string;
  operator?: string;
  value?: string;
  effect?: string;
  tolerationSeconds?: number;
}

/** The part of the runner pods' spec a pool may choose; the controller sets the rest. */
export interface RunnerPodTemplate {
  /** Runner image; absent: the controller's default. */
  image?: string;
  imagePullPolicy?: 'Always' | 'IfNotPresent' | 'Never';
  /** Quantities as strings or integers, e.g. `{ cpu: '500m', 'ephemeral-storage': '64Mi' }`. */
  resources?: {
    limits?: Record<string, string | number>;
    requests?: Record<string, string | number>;
  };
  runtimeClassName?: string;
  nodeSelector?: Record<string, string>;
  tolerations?: RunnerToleration[];
  /** A core/v1 Affinity, passed to the pods unchanged. */
  affinity?: Record<string, unknown>;
}

export interface RunnerPoolSpec {
  /** Warm runner pods to keep (the scale subresource's replicas); default 2. */
  replicas: number;
  /** 1 (default): a fresh sandbox pod per execution, discarded after use; more: pooled pods. */
  executionsPerPod: number;
  isolate: RunnerPoolIsolate;
  template?: RunnerPodTemplate;
  /** Which OPA decision answers each capability; a category left out is not offered at all. */
  policy?: ResolvedPolicies;
}

export const RunnerPoolConditionType = {
  /** The pool has `replicas` warm pods ready. */
  Ready: 'Ready',
} as const;
export type RunnerPoolConditionType = (typeof RunnerPoolConditionType)[keyof typeof RunnerPoolConditionType];

export interface RunnerPoolStatus {
  /** Runner pods that exist (the scale subresource's status replicas). */
  replicas?: number;
  readyReplicas?: number;
  /** Label selector of the pool's pods, serialised (for the scale subresource / HPA). */
  selector?: string;
  conditions?: Condition<RunnerPoolConditionType>[];
  observedGeneration?: number;
}

/** A RunnerPool as the API server returns it (defaults applied). */
export interface RunnerPool extends KubernetesObject {
  spec: RunnerPoolSpec;
  status?: RunnerPoolStatus;
}
