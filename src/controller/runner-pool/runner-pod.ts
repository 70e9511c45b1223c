/**
 * The runner pod of a RunnerPool (pure): what a pool may choose comes from its template, the rest
 * is fixed here — PodSecurity "restricted", no service-account token, resources the template
 * leaves out derived (runner-pod-resources.ts), and the runner options derived from the pool.
 */
import { createHash, randomInt } from 'node:crypto';
import type { V1EnvVar, V1Pod, V1PodSpec } from '@kubernetes/client-node';
import {
  API_VERSION,
  CONCURRENT_EXECUTIONS_PER_POD,
  POOLED_LIVE_HEAPS,
  RUNNER_POOL_KIND,
  RUNTIME_OVERHEAD_MIB,
  liveHeapsPerPod,
  type RunnerPool,
} from '../../api/v1alpha1/index.ts';
import { Mcpv8Error } from '../../core/errors.ts';
import { LIVE_HEAP_RSS_SHARE } from '../../local/child-runner-pool.ts';
import type { RunnerOptions } from '../../runner/runner-process.ts';
import { DEFAULT_TMP_SIZE, memoryLimitBytes, resourcesFor } from './runner-pod-resources.ts';
import { EGRESS_KEY_ENV } from '../../cluster/egress-token.ts';

/** Label every runner pod carries: the name of its pool (the pod informer selects on its key). */
export const RUNNER_POOL_LABEL = 'mcpv8.dev/runner-pool';

/**
 * Label with a hash of the pod spec the pool decides (template, image, resources, runner
 * options): a pod whose value differs from what its pool builds now is outdated.
 */
export const TEMPLATE_HASH_LABEL = 'mcpv8.dev/template-hash';

/** Env var the runner reads its options from (src/runner/nats-entry.ts). */
export const RUNNER_OPTIONS_ENV = 'MCPV8_RUNNER_OPTIONS';

/** Name of the runner container. */
export const RUNNER_CONTAINER = 'runner';

// The sizing constants live with the CRD, which enforces the same floors at admission.
export { CONCURRENT_EXECUTIONS_PER_POD, POOLED_LIVE_HEAPS, RUNTIME_OVERHEAD_MIB };

/** Extra seconds past the longest execution a draining runner gets to report and exit. */
export const TERMINATION_MARGIN_SECONDS = 15;

/** UID/GID the runner runs as (the image's non-root user). */
export const RUNNER_UID = 1000;

/** Settings of the controller for every runner pod it builds (from its environment). */
export interface RunnerPodSettings {
  /** Default runner image; a pool's `template.image` overrides it. */
  image: string;
  /** ServiceAccount of the runner pods (its token is never mounted). */
  serviceAccount: string;
  /** Extra labels (the runner NetworkPolicy selects on them); the pool label wins on a clash. */
  podLabels: Record<string, string>;
  /** Connection settings (NATS, S3): values or secretKeyRefs, never secret values. */
  podEnv: V1EnvVar[];
  /** Pull policy when the template sets none (default: Kubernetes' own default). */
  imagePullPolicy?: 'Always' | 'IfNotPresent' | 'Never';
  /** Size limit of the writable /tmp (default {@link DEFAULT_TMP_SIZE}). */
  tmpSizeLimit?: string;
}

/**
 * Isolates a pooled pod keeps live after their cell (so the next cell of a session routed to it
 * resumes without replay). A per-execution pod runs one cell and keeps none.
 */
export function liveHeapsFor(pool: RunnerPool): number {
  return liveHeapsPerPod(pool.spec.executionsPerPod);
}

/**
 * Runner options of a pool's pods: what the pool decides, the rest left to the runner defaults.
 * The runner's memory guard (liveHeapRssBytes) sits at the embedded pool's share of the pod's
 * memory limit, so the runner lets go of live isolates, then stops the heaviest running cell
 * (`OutOfMemory`), before the kernel kills the whole pod at its limit.
 */
export function runnerOptionsFor(pool: RunnerPool): Partial<RunnerOptions> {
  return {
    defaultHeapMb: pool.spec.isolate.defaultHeapMb,
    policies: pool.spec.policy ?? {},
    // One empty isolate ready is all a one-at-a-time runner uses.
    warmSandboxes: 1,
    liveHeaps: liveHeapsFor(pool),
    liveHeapRssBytes: Math.floor(memoryLimitBytes(pool) * LIVE_HEAP_RSS_SHARE),
    // The pod holds its own claim: it refuses runs beyond this whatever a controller sends it.
    runsPerPod: pool.spec.executionsPerPod,
  };
}

/** A random pod-name suffix of 5 characters of [a-z0-9], like generateName's. */
export function randomSuffix(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  let out = '';
  for (let i = 0; i < 5; i++) out += alphabet[randomInt(alphabet.length)];
  return out;
}

/** Label values (the pool's name is one) are at most 63 characters. */
export const MAX_POOL_NAME_LENGTH = 63;

/**
 * The pod of one runner of `pool`. The name is chosen here rather than by generateName so the
 * caller knows it before the create returns (it is the runner id).
 * @throws Mcpv8Error MCPV8_ERR_CONFIG_INVALID when the pool's name cannot be a label value.
 */
export function buildRunnerPod(
  pool: RunnerPool,
  settings: RunnerPodSettings,
  suffix = randomSuffix(),
): V1Pod {
  const { name, namespace, uid } = pool.metadata ?? {};
  if (!name || !namespace || !uid) throw new TypeError('a RunnerPool needs a name, namespace and uid');
  if (name.length > MAX_POOL_NAME_LENGTH) {
    throw new Mcpv8Error('MCPV8_ERR_CONFIG_INVALID', [
      `RunnerPool name ${name} is longer than ${MAX_POOL_NAME_LENGTH} characters (it labels the pods)`,
    ]);
  }
  const env: V1EnvVar[] = [
    { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
    { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
    ...settings.podEnv.filter((e) => !RESERVED_ENV.has(e.name)),
    { name: RUNNER_OPTIONS_ENV, value: JSON.stringify(runnerOptionsFor(pool)) },
  ];
  const spec = runnerPodSpec(pool, settings, env);
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: `${name}-${suffix}`,
      namespace,
      labels: { ...settings.podLabels, [RUNNER_POOL_LABEL]: name, [TEMPLATE_HASH_LABEL]: specHash(spec) },
      ownerReferences: [
        {
          apiVersion: API_VERSION,
          kind: RUNNER_POOL_KIND,
          name,
          uid,
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
    },
    spec,
  };
}

/** The hash {@link TEMPLATE_HASH_LABEL} carries for pods `pool` builds now. */
export function templateHashOf(pool: RunnerPool, settings: RunnerPodSettings): string {
  return buildRunnerPod(pool, settings, 'hash').metadata!.labels![TEMPLATE_HASH_LABEL]!;
}

/** 10 hex digits of a SHA-256 over the spec with sorted keys (stable across cache reads). */
function specHash(spec: V1PodSpec): string {
  const canonical = JSON.stringify(spec, (_k, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b)))
      : v,
  );
  return createHash('sha256').update(canonical).digest('hex').slice(0, 10);
}

function runnerPodSpec(pool: RunnerPool, settings: RunnerPodSettings, env: V1EnvVar[]): V1PodSpec {
  const template = pool.spec.template ?? {};
  return {
    restartPolicy: 'Never',
    serviceAccountName: settings.serviceAccount,
    automountServiceAccountToken: false,
    enableServiceLinks: false,
    // A draining runner finishes the cell it runs (up to the pool's longest timeout).
    terminationGracePeriodSeconds: pool.spec.isolate.maxTimeoutSeconds + TERMINATION_MARGIN_SECONDS,
    securityContext: {
      runAsNonRoot: true,
      runAsUser: RUNNER_UID,
      runAsGroup: RUNNER_UID,
      fsGroup: RUNNER_UID,
      seccompProfile: { type: 'RuntimeDefault' },
    },
    ...(template.runtimeClassName !== undefined && { runtimeClassName: template.runtimeClassName }),
    ...(template.nodeSelector !== undefined && { nodeSelector: { ...template.nodeSelector } }),
    ...(template.tolerations !== undefined && {
      tolerations: template.tolerations.map((t) => ({ ...t })),
    }),
    ...(template.affinity !== undefined && {
      affinity: structuredClone(template.affinity),
    }),
    containers: [
      {
        name: RUNNER_CONTAINER,
        image: template.image ?? settings.image,
        ...((template.imagePullPolicy ?? settings.imagePullPolicy) !== undefined && {
          imagePullPolicy: template.imagePullPolicy ?? settings.imagePullPolicy,
        }),
        args: ['runner'],
        env,
        resources: resourcesFor(pool, settings.tmpSizeLimit ?? DEFAULT_TMP_SIZE),
        securityContext: {
          allowPrivilegeEscalation: false,
          readOnlyRootFilesystem: true,
          runAsNonRoot: true,
          capabilities: { drop: ['ALL'] },
          seccompProfile: { type: 'RuntimeDefault' },
        },
        volumeMounts: [{ name: 'tmp', mountPath: '/tmp' }],
      },
    ],
    // Read-only root filesystem: /tmp is the only writable path, and it is bounded.
    volumes: [{ name: 'tmp', emptyDir: { sizeLimit: settings.tmpSizeLimit ?? DEFAULT_TMP_SIZE } }],
  };
}

/** Env the controller sets itself; a same-named entry in the settings would shadow it. */
// The egress key mints capabilities for any tenant: never handed to a pod, whatever the settings say.
const RESERVED_ENV = new Set(['POD_NAME', 'POD_NAMESPACE', RUNNER_OPTIONS_ENV, EGRESS_KEY_ENV]);
