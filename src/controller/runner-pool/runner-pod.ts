/**
 * The runner pod of a RunnerPool (pure): what a pool may choose comes from its template, the rest
 * is fixed here — PodSecurity "restricted", no service-account token, memory sized from the
 * isolate cap, and the runner options derived from the pool.
 */
import { randomInt } from 'node:crypto';
import type { V1EnvVar, V1Pod } from '@kubernetes/client-node';
import { API_VERSION, RUNNER_POOL_KIND, type RunnerPool } from '../../api/v1alpha1/index.ts';
import { Mcpv8Error } from '../../core/errors.ts';
import type { RunnerOptions } from '../../runner/runner-process.ts';

/** Label every runner pod carries: the name of its pool (the pod informer selects on its key). */
export const RUNNER_POOL_LABEL = 'mcpv8.dev/runner-pool';

/** Env var the runner reads its options from (src/runner/nats-entry.ts). */
export const RUNNER_OPTIONS_ENV = 'MCPV8_RUNNER_OPTIONS';

/** Name of the runner container. */
export const RUNNER_CONTAINER = 'runner';

/**
 * Memory a runner pod needs besides its isolate heap, MiB. Measured: Node 24 with the runner,
 * NATS and isolated-vm modules loaded sits at ~105 MiB RSS, and a 64 MiB isolate filled to its
 * cap brings it to ~183 MiB (heap plus ~14 MiB of isolate bookkeeping); 192 MiB leaves room for
 * the warm (empty) sandbox, the S3 client and output buffers.
 */
export const RUNTIME_OVERHEAD_MIB = 192;

/** Executions a runner pod runs at once (the runner takes one cell at a time). */
export const CONCURRENT_EXECUTIONS_PER_POD = 1;

/** Live isolates a pooled runner pod keeps (each budgeted at the pool's heap cap). */
export const POOLED_LIVE_HEAPS = 2;

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
  /** Size limit of the writable /tmp (default 64Mi). */
  tmpSizeLimit?: string;
}

/**
 * Isolates a pooled pod keeps live after their cell (so the next cell of a session routed to it
 * resumes without replay). A per-execution pod runs one cell and keeps none.
 */
export function liveHeapsFor(pool: RunnerPool): number {
  return pool.spec.executionsPerPod > 1 ? POOLED_LIVE_HEAPS : 0;
}

/** Runner options of a pool's pods: what the pool decides, the rest left to the runner defaults. */
export function runnerOptionsFor(pool: RunnerPool): Partial<RunnerOptions> {
  return {
    defaultHeapMb: pool.spec.isolate.defaultHeapMb,
    policies: pool.spec.policy ?? {},
    // One empty isolate ready is all a one-at-a-time runner uses.
    warmSandboxes: 1,
    liveHeaps: liveHeapsFor(pool),
  };
}

/**
 * Memory limit of a pool's runner container, MiB, when its template sets none: the running
 * isolate and every live one at the pool's cap, plus the runtime.
 */
export function derivedMemoryMib(pool: RunnerPool): number {
  const isolates = CONCURRENT_EXECUTIONS_PER_POD + liveHeapsFor(pool);
  return pool.spec.isolate.maxHeapMb * isolates + RUNTIME_OVERHEAD_MIB;
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
  const template = pool.spec.template ?? {};
  const env: V1EnvVar[] = [
    { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
    { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
    ...settings.podEnv.filter((e) => !RESERVED_ENV.has(e.name)),
    { name: RUNNER_OPTIONS_ENV, value: JSON.stringify(runnerOptionsFor(pool)) },
  ];
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: `${name}-${suffix}`,
      namespace,
      labels: { ...settings.podLabels, [RUNNER_POOL_LABEL]: name },
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
    spec: {
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
          resources: resourcesFor(pool),
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
      volumes: [{ name: 'tmp', emptyDir: { sizeLimit: settings.tmpSizeLimit ?? '64Mi' } }],
    },
  };
}

/** Env the controller sets itself; a same-named entry in the settings would shadow it. */
const RESERVED_ENV = new Set(['POD_NAME', 'POD_NAMESPACE', RUNNER_OPTIONS_ENV]);

type ResourceList = Record<string, string>;

/** Requests and limits from the template, with memory derived from the isolate cap when unset. */
function resourcesFor(pool: RunnerPool): { requests: ResourceList; limits: ResourceList } {
  const given = pool.spec.template?.resources ?? {};
  const requests = stringify(given.requests);
  const limits = stringify(given.limits);
  if (limits.memory === undefined) {
    const derived = `${derivedMemoryMib(pool)}Mi`;
    // A request above the derived limit would make the pod invalid (request ≤ limit): keep it.
    const request = requests.memory;
    limits.memory = request !== undefined && memoryBytes(request) > memoryBytes(derived) ? request : derived;
  }
  requests.memory ??= limits.memory;
  return { requests, limits };
}

function stringify(list: Record<string, string | number> | undefined): ResourceList {
  const out: ResourceList = {};
  for (const [k, v] of Object.entries(list ?? {})) out[k] = String(v);
  return out;
}

const SUFFIX_FACTORS: Record<string, number> = {
  '': 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
  m: 1e-3,
};

/** Bytes of a memory quantity (`512Mi`, `1G`, `1e9`, `134217728`); NaN when unreadable. */
export function memoryBytes(quantity: string): number {
  const m = /^([+-]?(?:\d+(?:\.\d*)?|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|[kMGTPEm]))?$/.exec(
    quantity,
  );
  if (!m) return Number.NaN;
  const base = Number(m[1]);
  if (m[2] !== undefined) return base * 10 ** Number(m[2].slice(1));
  return base * SUFFIX_FACTORS[m[3] ?? '']!;
}
