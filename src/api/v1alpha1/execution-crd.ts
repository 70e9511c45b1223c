/**
 * The Execution CRD: the structural schema of execution-types.ts, built from the domain's zod
 * schemas (ranges, patterns and enums come from src/core) plus the CRD-only defaults, bounds and
 * CEL rules (immutability, one-way cancellation).
 */
import {
  CellLanguageSchema,
  ExecutionErrorSchema,
  ExecutionLimitsSchema,
  ExecutionOutcomeSchema,
} from '../../core/api/execution.ts';
import { HeapIdSchema } from '../../core/api/heap-id.ts';
import {
  HeapTagsSchema,
  MAX_TAGS_PER_HEAP,
  SessionNameSchema,
  TagKeySchema,
} from '../../core/session-log.ts';
import { conditionsSchema } from './condition.ts';
import { AGE_COLUMN, defineCrd, type CustomResourceDefinition } from './crd.ts';
import {
  DEFAULT_HEAP_MB,
  DEFAULT_RUNNER_POOL,
  DEFAULT_TIMEOUT_SECONDS,
  DEFAULT_TTL_SECONDS_AFTER_FINISHED,
  EXECUTION_CODE_MAX_CHARS,
  EXECUTION_RESULT_MAX_CHARS,
} from './defaults.ts';
import {
  EXECUTION_KIND,
  EXECUTION_PLURAL,
  ExecutionConditionType,
  ExecutionFailureReason,
  ExecutionPhase,
} from './execution-types.ts';
import {
  counter,
  defaultedObject,
  dnsLabel,
  fromZod,
  immutable,
  timestamp,
  withDefaults,
  withRule,
  type JSONSchemaProps,
} from './openapi.ts';

/** Tag keys have their own rules in the domain; a CRD map can only check them with CEL. */
function tagsSchema(): JSONSchemaProps {
  const key = fromZod(TagKeySchema);
  return withRule(
    { ...fromZod(HeapTagsSchema), maxProperties: MAX_TAGS_PER_HEAP },
    {
      rule: `self.all(k, size(k) >= ${key.minLength} && size(k) <= ${key.maxLength} && k.matches(r'${key.pattern}'))`,
      message: `tag keys must be ${key.minLength}–${key.maxLength} characters without control characters`,
    },
  );
}

const limitsSchema: JSONSchemaProps = defaultedObject({
  ...withDefaults(fromZod(ExecutionLimitsSchema), {
    heapMemoryMaxMb: DEFAULT_HEAP_MB,
    timeoutSeconds: DEFAULT_TIMEOUT_SECONDS,
  }),
  description: 'Isolate caps; a RunnerPool may allow less. Each field has a default.',
});

/** Optional fields without a default: `self == oldSelf` on the field misses adding or removing it. */
const OPTIONAL_IMMUTABLE = ['heap', 'session', 'tags'] as const;

const specSchema: JSONSchemaProps = {
  type: 'object',
  description:
    'What to run. Immutable after creation, except cancelRequested (false to true) and ttlSecondsAfterFinished.',
  required: ['code'],
  properties: {
    code: immutable(
      {
        type: 'string',
        description: 'The cell (JavaScript or TypeScript), inline.',
        minLength: 1,
        maxLength: EXECUTION_CODE_MAX_CHARS,
      },
      'code',
    ),
    language: immutable({ ...fromZod(CellLanguageSchema), default: 'javascript' }, 'language'),
    heap: immutable(fromZod(HeapIdSchema), 'heap'),
    session: immutable(fromZod(SessionNameSchema), 'session'),
    tags: immutable(tagsSchema(), 'tags'),
    limits: immutable(limitsSchema, 'limits'),
    runnerPool: immutable(
      {
        ...dnsLabel("Name of the RunnerPool to run on (pools live in the controller's namespace)."),
        default: DEFAULT_RUNNER_POOL,
      },
      'runnerPool',
    ),
    cancelRequested: withRule(
      { type: 'boolean', description: 'Set to true to cancel the execution.', default: false },
      { rule: 'self || !oldSelf', message: 'cancelRequested cannot go back to false' },
    ),
    ttlSecondsAfterFinished: {
      type: 'integer',
      format: 'int32',
      minimum: 0,
      description: 'Seconds a finished Execution is kept before it is deleted.',
      default: DEFAULT_TTL_SECONDS_AFTER_FINISHED,
    },
  },
  'x-kubernetes-validations': OPTIONAL_IMMUTABLE.map((field) => ({
    rule: `has(self.${field}) == has(oldSelf.${field})`,
    message: `${field} is immutable`,
  })),
};

const statusSchema: JSONSchemaProps = {
  type: 'object',
  description: 'How the execution went; written by the controller through the status subresource.',
  properties: {
    phase: {
      type: 'string',
      description: 'Summary for humans; programs should read the Succeeded condition.',
      enum: Object.values(ExecutionPhase),
    },
    conditions: conditionsSchema(
      `Tekton-style "${ExecutionConditionType.Succeeded}" condition: Unknown while pending or running, True when completed, False with a failure reason.`,
    ),
    observedGeneration: counter('The metadata.generation this status was computed from.'),
    runner: {
      type: 'object',
      description: 'Where it ran.',
      properties: {
        pod: { type: 'string', maxLength: 253, description: 'Runner pod name.' },
        node: { type: 'string', maxLength: 253, description: 'Node of the runner pod.' },
      },
    },
    startTime: timestamp('When the cell started running.'),
    completionTime: timestamp('When the execution ended, whatever the outcome.'),
    result: {
      type: 'string',
      maxLength: EXECUTION_RESULT_MAX_CHARS,
      description: "The last expression's value (JSON text when serialisable), cut to fit.",
    },
    resultTruncated: { type: 'boolean', description: 'result was cut.' },
    resultType: fromZod(ExecutionOutcomeSchema.shape.resultType.unwrap()),
    error: {
      type: 'object',
      description: 'Why it did not complete.',
      required: ['reason', 'message'],
      properties: {
        reason: {
          type: 'string',
          description: 'Stable CamelCase reason.',
          enum: Object.values(ExecutionFailureReason),
        },
        message: fromZod(ExecutionErrorSchema.shape.message),
      },
    },
    heap: { ...fromZod(HeapIdSchema), description: 'Stateful mode: the heap the completed cell committed.' },
    output: {
      type: 'object',
      description: 'Where the console output is; the lines themselves are never stored here.',
      properties: {
        lines: counter('Lines written.'),
        bytes: counter('Bytes written.'),
        truncated: { type: 'boolean', description: 'Output past the per-execution cap was dropped.' },
        stream: { type: 'string', maxLength: 255, description: 'JetStream stream holding the lines.' },
        subject: { type: 'string', maxLength: 1024, description: 'Subject of these lines.' },
      },
    },
  },
};

const schema: JSONSchemaProps = {
  type: 'object',
  description: 'One cell of JavaScript or TypeScript to run in a V8 isolate on a runner pod.',
  required: ['spec'],
  properties: {
    apiVersion: { type: 'string' },
    kind: { type: 'string' },
    metadata: { type: 'object' },
    spec: specSchema,
    status: statusSchema,
  },
  'x-kubernetes-validations': [
    {
      // The name goes into pod labels and NATS subject tokens, where dots and >63 chars break.
      rule: "size(self.metadata.name) <= 63 && self.metadata.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",
      message: 'metadata.name must be a DNS label: at most 63 lower-case alphanumerics or "-", no dots',
    },
  ],
};

/** executions.mcpv8.dev. */
export const executionCrd: CustomResourceDefinition = defineCrd({
  kind: EXECUTION_KIND,
  plural: EXECUTION_PLURAL,
  shortNames: ['exec'],
  schema,
  printerColumns: [
    { name: 'Phase', type: 'string', jsonPath: '.status.phase' },
    {
      name: 'Reason',
      type: 'string',
      jsonPath: `.status.conditions[?(@.type=="${ExecutionConditionType.Succeeded}")].reason`,
    },
    { name: 'Session', type: 'string', jsonPath: '.spec.session' },
    { name: 'Runner', type: 'string', jsonPath: '.status.runner.pod' },
    { name: 'Start', type: 'date', jsonPath: '.status.startTime' },
    { name: 'Completion', type: 'date', jsonPath: '.status.completionTime' },
    AGE_COLUMN,
  ],
});
