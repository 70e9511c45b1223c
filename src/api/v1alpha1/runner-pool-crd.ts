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
import {
  CONCURRENT_EXECUTIONS_PER_POD,
  CPU_FLOOR_MILLICORES,
  POOLED_LIVE_HEAPS,
  RUNTIME_OVERHEAD_MIB,
  memoryFloorMibCel,
} from './runner-pod-floors.ts';

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

/** Longest quantity text (`123.456Gi`-like values are a dozen characters); bounds the CEL cost. */
const QUANTITY_MAX_LENGTH = 64;

/** A resource.Quantity map, as controller-gen renders core/v1 ResourceList. */
const resourceList = (description: string): JSONSchemaProps => ({
  type: 'object',
  description,
  maxProperties: 16,
  additionalProperties: {
    anyOf: [{ type: 'integer' }, { type: 'string' }],
    maxLength: QUANTITY_MAX_LENGTH,
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
        'Requests and limits of the runner container; a resource left out is derived by the controller (memory from the isolate cap plus runtime overhead, CPU, ephemeral-storage from /tmp plus logs). A memory limit below maxHeapMb × isolates per pod + runtime overhead, or a CPU limit below 100m, is refused.',
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

/** CEL: the template sets a limit for `resource`, in a form `quantity()` reads. */
const templateLimit = (resource: string) => {
  const value = `self.template.resources.limits['${resource}']`;
  return {
    present: `has(self.template) && has(self.template.resources) && has(self.template.resources.limits) && '${resource}' in self.template.resources.limits && isQuantity(string(${value}))`,
    quantity: `quantity(string(${value}))`,
  };
};
const memoryLimit = templateLimit('memory');
const cpuLimit = templateLimit('cpu');

/**
 * Limits a runner cannot live with, refused at admission; the controller checks the same floors
 * (and what only it knows, such as the /tmp size) before it creates a pod.
 */
const resourceFloorRules = [
  {
    // Built from integers, not strings: a string built at run time has no size bound, which the
    // API server's CEL cost estimate refuses.
    rule: `!(${memoryLimit.present}) || ${memoryLimit.quantity}.compareTo(quantity('0').add(${memoryFloorMibCel()} * ${2 ** 20})) >= 0`,
    // A static message: one that prints the floor would convert it to a string, which costs too much.
    message: `template.resources.limits.memory must be at least isolate.maxHeapMb × isolates per pod (${CONCURRENT_EXECUTIONS_PER_POD}, or ${CONCURRENT_EXECUTIONS_PER_POD + POOLED_LIVE_HEAPS} when executionsPerPod > 1) + ${RUNTIME_OVERHEAD_MIB}Mi of runtime`,
    reason: 'FieldValueInvalid' as const,
    fieldPath: '.template.resources.limits',
  },
  {
    rule: `!(${cpuLimit.present}) || ${cpuLimit.quantity}.compareTo(quantity('${CPU_FLOOR_MILLICORES}m')) >= 0`,
    message: `template.resources.limits.cpu must be at least ${CPU_FLOOR_MILLICORES}m (a runner needs about half a CPU-second to start)`,
    reason: 'FieldValueInvalid' as const,
    fieldPath: '.template.resources.limits',
  },
];

const specSchema: JSONSchemaProps = {
  type: 'object',
  description: 'Warm runner pods Executions run on.',
  'x-kubernetes-validations': resourceFloorRules,
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
