/**
 * The RunnerPool CRD: the structural schema of runner-pool-types.ts, with isolate ranges and
 * policy settings from the domain's zod schemas, and the scale subresource so that
 * `kubectl scale`, an HPA or KEDA can drive `spec.replicas`.
 */
import { ExecutionLimitsSchema, HEAP_MB_MAX, TIMEOUT_SECONDS_MAX } from '../../core/api/execution.ts';
import { ResolvedPoliciesSchema } from '../../core/policy.ts';
import { conditionsSchema } from './condition.ts';
import { AGE_COLUMN, defineCrd, type CustomResourceDefinition } from './crd.ts';
import {
  DEFAULT_EXECUTIONS_PER_POD,
  DEFAULT_HEAP_MB,
  DEFAULT_POOL_REPLICAS,
  DEFAULT_TIMEOUT_SECONDS,
} from './defaults.ts';
import { counter, defaultedObject, fromZod, type JSONSchemaProps } from './openapi.ts';
import { RUNNER_POOL_KIND, RUNNER_POOL_PLURAL, RunnerPoolConditionType } from './runner-pool-types.ts';

const limits = fromZod(ExecutionLimitsSchema).properties!;
const heapMb = (description: string, byDefault: number): JSONSchemaProps => ({
  ...limits.heapMemoryMaxMb,
  description,
  default: byDefault,
});
const timeoutSeconds = (description: string, byDefault: number): JSONSchemaProps => ({
  ...limits.timeoutSeconds,
  description,
  default: byDefault,
});

const isolateSchema: JSONSchemaProps = defaultedObject({
  type: 'object',
  description: "Isolate caps of the pool's executions; an Execution asking for more is refused.",
  properties: {
    defaultHeapMb: heapMb('Heap cap when an MCP call gives none, MiB.', DEFAULT_HEAP_MB),
    maxHeapMb: heapMb('Largest heap cap an execution may ask for, MiB.', HEAP_MB_MAX),
    defaultTimeoutSeconds: timeoutSeconds(
      'Wall-clock limit when an MCP call gives none, seconds.',
      DEFAULT_TIMEOUT_SECONDS,
    ),
    maxTimeoutSeconds: timeoutSeconds(
      'Largest wall-clock limit an execution may ask for, seconds.',
      TIMEOUT_SECONDS_MAX,
    ),
  },
  'x-kubernetes-validations': [
    { rule: 'self.defaultHeapMb <= self.maxHeapMb', message: 'defaultHeapMb must not exceed maxHeapMb' },
    {
      rule: 'self.defaultTimeoutSeconds <= self.maxTimeoutSeconds',
      message: 'defaultTimeoutSeconds must not exceed maxTimeoutSeconds',
    },
  ],
});

/** A resource.Quantity map, as controller-gen renders core/v1 ResourceList. */
const resourceList = (description: string): JSONSchemaProps => ({
  type: 'object',
  description,
  additionalProperties: {
    anyOf: [{ type: 'integer' }, { type: 'string' }],
    pattern:
      '^(\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))))?$',
    'x-kubernetes-int-or-string': true,
  },
});

const stringMap = (description: string): JSONSchemaProps => ({
  type: 'object',
  description,
  additionalProperties: { type: 'string' },
});

const templateSchema: JSONSchemaProps = {
  type: 'object',
  description:
    "The part of the runner pods' spec a pool chooses; the controller sets the rest (security context, limits derived from the isolate caps, no service-account token).",
  properties: {
    image: {
      type: 'string',
      minLength: 1,
      maxLength: 1024,
      description: "Runner image; absent: the controller's default.",
    },
    imagePullPolicy: { type: 'string', enum: ['Always', 'IfNotPresent', 'Never'] },
    resources: {
      type: 'object',
      description:
        'CPU, ephemeral-storage and extra memory for the runner container (memory is at least the isolate cap plus runtime overhead).',
      properties: {
        limits: resourceList('Resource limits.'),
        requests: resourceList('Resource requests.'),
      },
    },
    runtimeClassName: {
      type: 'string',
      maxLength: 253,
      description: 'RuntimeClass of the runner pods (e.g. gvisor, kata).',
    },
    nodeSelector: stringMap('Node labels the runner pods must be scheduled on.'),
    tolerations: {
      type: 'array',
      description: 'Tolerations of the runner pods (core/v1 Toleration).',
      maxItems: 64,
      items: {
        type: 'object',
        properties: {
          key: { type: 'string' },
          operator: { type: 'string' },
          value: { type: 'string' },
          effect: { type: 'string' },
          tolerationSeconds: { type: 'integer', format: 'int64' },
        },
      },
      'x-kubernetes-list-type': 'atomic',
    },
    affinity: {
      type: 'object',
      // core/v1 Affinity is hundreds of schema lines deep; the API server validates it on the pod.
      description: 'Affinity of the runner pods (core/v1 Affinity), passed through unchanged.',
      'x-kubernetes-preserve-unknown-fields': true,
    },
  },
};

const specSchema: JSONSchemaProps = {
  type: 'object',
  description: 'Warm runner pods Executions run on.',
  properties: {
    replicas: {
      type: 'integer',
      format: 'int32',
      minimum: 0,
      default: DEFAULT_POOL_REPLICAS,
      description: 'Warm runner pods to keep ready (scale subresource).',
    },
    executionsPerPod: {
      type: 'integer',
      format: 'int32',
      minimum: 1,
      default: DEFAULT_EXECUTIONS_PER_POD,
      description:
        '1: a fresh sandbox pod per execution, discarded after use; more: pooled pods that serve several executions.',
    },
    isolate: isolateSchema,
    template: templateSchema,
    policy: {
      ...fromZod(ResolvedPoliciesSchema),
      description:
        'Which OPA decision answers each capability (fetch, filesystem, modules); a category left out is not offered to user code.',
    },
  },
};

const statusSchema: JSONSchemaProps = {
  type: 'object',
  description: 'Observed state; written by the controller through the status subresource.',
  properties: {
    replicas: {
      type: 'integer',
      format: 'int32',
      minimum: 0,
      description: 'Runner pods that exist (scale subresource).',
    },
    readyReplicas: {
      type: 'integer',
      format: 'int32',
      minimum: 0,
      description: 'Runner pods ready to take an execution.',
    },
    selector: {
      type: 'string',
      description: "Label selector of the pool's pods, serialised (scale subresource, HPA).",
    },
    conditions: conditionsSchema(`"${RunnerPoolConditionType.Ready}": the pool has its warm pods.`),
    observedGeneration: counter('The metadata.generation this status was computed from.'),
  },
};

/** runnerpools.mcpv8.dev. */
export const runnerPoolCrd: CustomResourceDefinition = defineCrd({
  kind: RUNNER_POOL_KIND,
  plural: RUNNER_POOL_PLURAL,
  shortNames: ['rp'],
  schema: {
    type: 'object',
    description: 'A pool of warm runner pods that run Executions in V8 isolates.',
    properties: {
      apiVersion: { type: 'string' },
      kind: { type: 'string' },
      metadata: { type: 'object' },
      // `{}` so a pool declared with no spec still gets every default.
      spec: { ...specSchema, default: {} },
      status: statusSchema,
    },
  },
  scale: {
    specReplicasPath: '.spec.replicas',
    statusReplicasPath: '.status.replicas',
    labelSelectorPath: '.status.selector',
  },
  printerColumns: [
    { name: 'Desired', type: 'integer', jsonPath: '.spec.replicas' },
    { name: 'Ready', type: 'integer', jsonPath: '.status.readyReplicas' },
    { name: 'Per-Pod', type: 'integer', jsonPath: '.spec.executionsPerPod' },
    AGE_COLUMN,
  ],
});
